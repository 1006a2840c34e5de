"""What each model reads during labeling, for both pair kinds.

Positions and labels live in the SLM's token space. The LLM reads its own form of the same text:
under token handoff the very same ids; under text handoff its own tokenization of the text (a
local LLM) or the text itself (a remote LLM).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..pair.pair import ModelPair


@dataclass
class QueryPrompt:
    slm: list[int]
    llm: list[int] | str


class Contexts:
    def __init__(self, pair: ModelPair, system: str | None = None):
        self.pair = pair
        self.system = system
        self.token = pair.handoff == "token"
        self.slm_tok = pair.slm.tokenizer
        self.llm_tok = pair.llm.tokenizer
        eos = pair.slm.eos_ids()
        self.slm_eos = self.slm_tok.eos_token_id if self.slm_tok.eos_token_id in eos else min(eos)
        self.slm_eos_ids = pair.eos_token_ids("slm")

    def prompt(self, text: str) -> QueryPrompt:
        p = self.pair.encode(text, system=self.system)
        return QueryPrompt(list(p), list(p)) if isinstance(p, list) else QueryPrompt(list(p.slm), p.llm)

    def decode(self, ids: list[int]) -> str:
        """SLM tokens to text (end-of-answer tokens dropped)."""
        return self.slm_tok.decode([t for t in ids if t not in self.slm_eos_ids], skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def llm_decode(self, ids: list[int]) -> str:
        """The LLM's own tokens to text (what a labeling writer generated)."""
        return self.llm_tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def answer_in_slm_space(self, text: str, ids: list[int] | None, ended: bool) -> list[int]:
        """The LLM's answer as SLM tokens, ending with an end-of-answer token when it ended."""
        if self.token:
            return list(ids)
        out = list(self.slm_tok(text, add_special_tokens=False)["input_ids"])
        return out + [self.slm_eos] if ended else out

    def piece(self, answer: list[int], i: int, token: int, prefix_text: str) -> str:
        """The text ``token`` adds after ``answer[:i]`` (whose text is ``prefix_text``)."""
        if token in self.slm_eos_ids:
            return ""
        full = self.decode(answer[:i] + [token])
        return full[len(prefix_text):] if full.startswith(prefix_text) else self.decode([token])

    def llm_context(self, qp: QueryPrompt, answer: list[int], i: int, token: int, text: str):
        """What the LLM reads to continue after the answer's first ``i`` tokens and then ``token``
        (whose joint text is ``text``)."""
        if self.token:
            return list(qp.llm) + answer[:i] + [token]
        if isinstance(qp.llm, str):
            return qp.llm + text
        return list(qp.llm) + list(self.llm_tok(text, add_special_tokens=False)["input_ids"])
