"""What goes into the engine and what comes out: settings, prompts, events, results."""

from __future__ import annotations

from dataclasses import dataclass

from .. import defaults
from ..errors import R2RouteError
from ..pair.prompts import PairPrompt, slm_length  # noqa: F401  (re-exported: the engine's input)
from .stats import RequestStats


@dataclass
class GenerationConfig:
    """Per-request decoding settings."""

    max_new_tokens: int = defaults.MAX_NEW_TOKENS
    temperature: float = defaults.TEMPERATURE
    top_p: float = defaults.TOP_P
    seed: int = defaults.SEED
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()  # SLM-vocabulary ids that end the request too (as EOS does)
    # Verification (pairs that share a tokenizer): "none" is R2R (the LLM checks the tokens the router flags); "all"
    # checks every token since the LLM's last call, which a router flag or ``max_draft`` tokens
    # trigger (with the slm strategy: speculative decoding with draft length max_draft).
    verify: str = defaults.VERIFY
    accept_margin: float = defaults.ACCEPT_MARGIN  # greedy: also accept an SLM token within this many nats of the LLM's top
    max_draft: int = defaults.MAX_DRAFT  # verify all: the LLM checks at least every this many SLM tokens
    ignore_eos: bool = False  # benchmarks: fixed-length outputs

    def validate(self) -> None:
        if self.max_new_tokens <= 0:
            raise R2RouteError(f"max new tokens must be ≥ 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise R2RouteError(f"temperature must be ≥ 0, got {self.temperature}")
        if not (0.0 < self.top_p <= 1.0):
            raise R2RouteError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.verify not in ("none", "all"):
            raise R2RouteError(f"--verify must be none or all, got {self.verify}")
        if self.accept_margin < 0:
            raise R2RouteError(f"--accept-margin must be ≥ 0, got {self.accept_margin}")
        if self.max_draft < 1:
            raise R2RouteError(f"--max-draft must be ≥ 1, got {self.max_draft}")


@dataclass
class TokenEvent:
    """One token of one request, with the text that became final (possibly empty)."""

    request: object
    token: int | None  # None for a remote LLM's text piece
    by_llm: bool
    text: str
    done: bool = False
    finish_reason: str | None = None


@dataclass
class Result:
    """A finished request. ``token_ids`` are the SLM-vocabulary tokens under token handoff; under
    text handoff the SLM's sequence of the final text."""

    request: object
    prompt_ids: list[int]
    token_ids: list[int]
    by_llm: list[bool]
    text: str
    finish_reason: str
    stats: RequestStats
