"""One request in a decode session: its tokens, which of them still await the LLM,
and what has been streamed.

``tokens`` holds the prompt and every generated token in the SLM's vocabulary, including a
*provisional* tail: positions the router flagged (``pending``) keep the SLM's token until the LLM
has checked them, and the SLM writes on after them. Everything before the first pending position
is final (``resolved``); only final tokens are streamed. A check that finds another token at
position p replaces it and drops everything after p (:meth:`Row.rollback`).

``by_llm`` has one entry per *write*: a token, or under text handoff a piece of the LLM's text.
What the pair kind keeps beside (the LLM's own token ids of the text, say) is ``side``, owned by
the session's handoff object (:mod:`.handoff`); what the row's mode keeps (a verified row's
drafts' distributions, say) is in ``mode`` (:mod:`.modes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..router.strategies import Strategy
from .detokenize import TextStream, TokenReader
from .modes import Mode
from .request import GenerationConfig


@dataclass
class Row:
    rid: object
    gen: GenerationConfig
    strategy: Strategy
    tokens: list[int]  # prompt + generated, provisional tail included (SLM token space)
    n_prompt: int
    stop_ids: frozenset[int]
    reader: TokenReader
    stream: TextStream
    t_submit: float
    mode: Mode  # what the LLM does with this row's tokens
    by_llm: list[bool] = field(default_factory=list)  # per write: the LLM wrote it
    pending: list[int] = field(default_factory=list)  # flagged positions the LLM has not checked, ascending
    flagged_at: int = 0  # step at which the oldest pending position was flagged
    emitted: int = 0  # tokens[:emitted] are streamed (or prompt)
    wasted: int = 0  # SLM tokens dropped by rollbacks
    llm_calls: int = 0  # LLM forwards that served this row
    rollbacks: int = 0
    written: int = 0  # writes streamed so far
    side: object = None  # the handoff's own state of this row
    t_first: float | None = None
    router_s: float = 0.0
    slot: int = -1

    def __post_init__(self):
        self.emitted = self.n_prompt

    @property
    def resolved(self) -> int:
        """Length of the final prefix: up to the first position still awaiting the LLM."""
        return self.pending[0] if self.pending else len(self.tokens)

    @property
    def next_position(self) -> int:
        """Where the next write goes: the index that keys its random draws (see :mod:`r2route.draws`).
        Under token handoff it is ``len(tokens)``; under text handoff the count of writes, since
        re-tokenizing moves the SLM's token count, and each write must draw afresh."""
        return self.n_prompt + len(self.by_llm)

    def append(self, token: int, by_llm: bool, flagged: bool, step: int) -> None:
        """A new token at the end; ``flagged`` marks it pending (the LLM checks it later)."""
        if flagged:
            if not self.pending:
                self.flagged_at = step
            self.pending.append(len(self.tokens))
        self.tokens.append(token)
        self.by_llm.append(by_llm)

    def ends_here(self, window: int) -> bool:
        """Whether the tokens so far (provisional ones too) already end the request: the SLM must
        not write on until the LLM has resolved them."""
        return (self.tokens[-1] in self.stop_ids and len(self.by_llm) > 0) or len(self.by_llm) >= self.gen.max_new_tokens \
            or len(self.tokens) >= window

    def rollback(self, p: int, token: int) -> int:
        """The LLM wrote ``token`` at position ``p`` instead of the SLM's: keep ``tokens[:p]``, put
        ``token`` at p, forget the rest. Returns how many SLM tokens were dropped."""
        dropped = len(self.tokens) - p - 1
        del self.tokens[p + 1 :]
        del self.by_llm[p + 1 - self.n_prompt :]
        self.tokens[p] = token
        self.by_llm[p - self.n_prompt] = True
        self.checked()
        self.wasted += dropped
        self.rollbacks += dropped > 0
        return dropped

    def checked(self) -> None:
        """The LLM has checked every pending position."""
        self.pending.clear()
        self.mode.checked()
