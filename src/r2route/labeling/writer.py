"""Greedy text from one model for the labeling steps: answers, continuations and verdicts.

:class:`LocalWriter` decodes many contexts with continuous batching over a runner's slots and
reuses each slot's KV cache for the common prefix of its next context (a query's mismatches share
the query and most of the answer). :class:`RemoteWriter` asks an OpenAI-compatible server.
Both are deterministic within a unit of work: :meth:`reset` forgets every cache so a unit reruns
bit for bit after a crash, and the runner's padding plan uses a fixed cost, not timings.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .. import defaults
from ..engine.retokenize import common_prefix
from ..engine.runners import make_runner
from ..engine.sampling import greedy
from ..errors import R2RouteError


@dataclass
class Written:
    text: str
    ids: list[int] | None  # the model's own tokens (local models), EOS included when it ended
    ended: bool  # the model ended its answer (EOS / finish_reason "stop")


class LocalWriter:
    """Batched greedy decoding with one local model (transformers or llama.cpp)."""

    remote = False

    def __init__(self, lm, eos_ids: set[int], slots: int = defaults.LABEL_SLOTS):
        self.lm = lm
        self.tokenizer = lm.tokenizer
        self.eos = set(eos_ids)
        self.slots = slots
        self.runner = None

    def reset(self) -> None:
        """A fresh cache (a new runner): the next unit of work starts from the same state as a rerun."""
        self.runner = make_runner(self.lm, self.slots, defaults.CALL_COST_TOKENS_CPU, hidden=False)  # it reads logits only
        self._content: list[list[int]] = [[] for _ in range(self.slots)]  # its first seen(slot) tokens are cached

    def _cachedcommon_prefix(self, slot: int, seq: list[int]) -> int:
        return common_prefix(self._content[slot][: self.runner.seen(slot)], seq)

    def _admit(self, queue, free, job, seqs, gen, contexts, max_new, window) -> None:
        """Give queued contexts free slots, each starting from the longest cached prefix of any slot.

        A context that shares a much longer prefix with one admitted in this same round waits a
        step: once that one is prefilled, its cache is copied instead of prefilled again.
        """
        fresh: list[int] = []
        while queue and free:
            seq = contexts[queue[0]]
            if len(seq) + max_new > window:
                raise R2RouteError(f"a labeling context of {len(seq)} tokens plus {max_new} new ones exceeds {self.lm.name}'s window of {window}")
            slot = free[0]
            src, best = slot, self._cachedcommon_prefix(slot, seq)
            for t in range(self.slots):
                if t != slot and t not in fresh:
                    n = self._cachedcommon_prefix(t, seq)
                    if n > best:
                        src, best = t, n
            if any(common_prefix(seqs[a], seq) >= best + 16 for a in fresh):
                break
            free.pop(0)
            j = queue.popleft()
            keep = min(best, len(seq) - 1)
            if src == slot:
                self.runner.truncate(slot, keep)
            else:
                self.runner.copy_prefix(src, slot, keep)
            job[slot], seqs[slot], gen[slot] = j, list(seq), []
            self._content[slot] = seqs[slot]
            fresh.append(slot)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode([t for t in ids if t not in self.eos], skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def generate(self, contexts: list[list[int]], max_new: int, stop: Callable[[str], bool] | None = None, lead: list[str] | None = None,
                 progress=None, stops: list[Callable[[str, list[int]], bool]] | None = None) -> list[Written]:
        """Greedy-continue every context for at most ``max_new`` tokens, or until EOS, or until
        ``stop(lead + text so far)`` holds, or, per context, ``stops[i](lead + text so far, tokens so far)``."""
        if self.runner is None:
            self.reset()
        window = self.lm.context_window
        out: list[Written | None] = [None] * len(contexts)
        queue = deque(range(len(contexts)))
        free = list(range(self.slots))
        job: dict[int, int] = {}
        seqs: dict[int, list[int]] = {}
        gen: dict[int, list[int]] = {}
        while queue or job:
            self._admit(queue, free, job, seqs, gen, contexts, max_new, window)
            slots = sorted(job)
            _, logits = self.runner.catch_up(slots, [seqs[s] for s in slots])
            tokens = greedy(logits)
            for s, t in zip(slots, tokens):
                gen[s].append(t)
                seqs[s].append(t)
                ended = t in self.eos
                done = ended or len(gen[s]) >= max_new
                if not done and (stop is not None or stops is not None):
                    text = (lead[job[s]] if lead else "") + self.decode(gen[s])
                    done = (stop is not None and stop(text)) or (stops is not None and stops[job[s]](text, gen[s]))
                if done:
                    j = job.pop(s)
                    out[j] = Written(self.decode(gen[s]), gen[s], ended)
                    free.append(s)
                    if progress is not None:
                        progress.update(1)
        return out  # type: ignore[return-value]


class RemoteWriter:
    """Greedy completions from an OpenAI-compatible server (vLLM, SGLang, llama.cpp, r2route)."""

    remote = True

    def __init__(self, client):
        self.client = client
        self.tokenizer = client.tokenizer

    def reset(self) -> None:
        pass  # the server's prefix cache is its own business

    def generate(self, contexts: list[str], max_new: int, stop: Callable[[str], bool] | None = None, lead: list[str] | None = None,
                 progress=None, stops=None) -> list[Written]:
        """Whole pieces of ``max_new`` tokens (a server cannot be stopped mid-piece; callers cut the text)."""
        from ..engine.request import GenerationConfig

        gen = GenerationConfig(max_new_tokens=max_new)
        out = []
        for lo in range(0, len(contexts), 16):
            part = contexts[lo : lo + 16]
            for text, ended in self.client.complete(part, [gen] * len(part), max_tokens=max_new):
                out.append(Written(text, None, ended))
            if progress is not None:
                progress.update(len(part))
        return out
