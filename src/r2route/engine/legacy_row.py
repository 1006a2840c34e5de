"""One request in a decode session: each model's token sequence of its text, and the text itself.

Under token handoff both models share one sequence (the same list), so a token either model
writes is at once in both. Under text handoff each model has its own sequence; a model's own
tokens are appended as written, and before the model runs, the text the other model wrote since
its last turn is spliced in (see :mod:`.handoff`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..router.strategies import Strategy
from .detokenize import TextStream, TokenReader
from .handoff import common_prefix, splice
from .request import GenerationConfig

SIDES = ("slm", "llm")


@dataclass
class Row:
    rid: object
    gen: GenerationConfig
    strategy: Strategy
    seqs: dict[str, list[int]]  # side → token ids (prompt + generated); one shared list under token handoff
    n_prompt: dict[str, int]
    readers: dict[str, TokenReader]
    stop_ids: dict[str, frozenset[int]]
    stream: TextStream
    sample_rng: torch.Generator | None
    route_rng: torch.Generator
    t_submit: float
    text_handoff: bool
    llm_prompt_text: str | None = None  # a remote LLM reads text, not ids
    raw: str = ""  # every character of generated text so far (before any stop-string cut)
    covered: dict[str, int] = field(default_factory=lambda: {"slm": 0, "llm": 0})  # chars of ``raw`` in each sequence
    by_llm: list[bool] = field(default_factory=list)
    llm_run: int = 0  # LLM writes in the current piece
    llm_continues: bool = False  # the LLM's piece is not at a word boundary yet
    t_first: float | None = None
    router_s: float = 0.0
    slot: int = -1

    def emit(self, side: str, token: int | None, text: str | None = None) -> str:
        """Record a token (or, from a remote LLM, a text piece) written by ``side``; return the text
        that became final."""
        if token is not None:
            self.seqs[side].append(token)
            text = self.readers[side].add(token)
        self.raw += text
        if self.text_handoff:
            self.covered[side] = len(self.raw)
        self.by_llm.append(side == "llm")
        # Length of the LLM's current piece: a piece continues only while the previous write left it open.
        self.llm_run = (self.llm_run + 1 if self.llm_continues else 1) if side == "llm" else 0
        return self.stream.add(text)

    def piece_open(self, text: str, max_tokens: int) -> bool:
        """After an LLM write of ``text``: is its piece still inside a word? (``word`` pieces.)"""
        if self.llm_run >= max_tokens or not text:
            return False
        if text[-1].isspace() or not text[-1].isalnum():
            return False  # ends on whitespace or punctuation
        return not (self.llm_run >= 2 and text[0].isspace())  # it began the next word

    def behind(self, side: str) -> bool:
        """Whether the other model wrote text this side has not read yet."""
        return self.text_handoff and self.covered[side] < len(self.raw)

    def sync(self, side: str, tokenizer) -> tuple[int, bool]:
        """Splice the other model's new text into ``side``'s sequence.

        Tokens of an unfinished character at the end are dropped first: the text moved on without
        them. Returns how many leading tokens are unchanged (the KV cache keeps those) and whether
        the splice reproduced the text exactly.
        """
        seq = self.seqs[side]
        keep = len(seq) - self.readers[side].pending
        new, ok = splice(tokenizer, seq[:keep], self.n_prompt[side], self.raw[self.covered[side] :])
        self.seqs[side] = new
        self.readers[side] = TokenReader(tokenizer, new)
        self.covered[side] = len(self.raw)
        return common_prefix(seq, new), ok

    def flush(self, side: str) -> str:
        """Release the text of the last writer's unfinished tokens, at the end."""
        return self.stream.finish(self.readers[side].flush())
