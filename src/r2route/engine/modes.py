"""What the LLM does with a row's tokens: one small object per mode, chosen per request.

- :class:`Routed` (R2R, ``verify none``): the router's flagged tokens are the LLM's to write; a
  flagged token stays provisional (pending) while the SLM writes on, and the rest stand as written.
- :class:`Verified` (``verify all``): every SLM token is pending; the LLM checks the draft when the
  router flags a token or the draft reaches ``max_draft`` tokens, and writes the token after a
  draft that stood whole (with the slm strategy: speculative decoding).
- :class:`LLMWrites`: the strategy never uses the SLM; the LLM writes every token.

The schedule, the session and the handoffs ask a row's mode instead of testing flags. A mode's
verbs take the row (:class:`~.row.Row`) they belong to; a row holds its mode, so this module does
not import the row's.
"""

from __future__ import annotations

import torch


class Mode:
    slm_writes = True  # the SLM proposes this row's tokens
    writes_next = False  # an LLM call also writes the token after the row's last (no draft to check there)
    batched = True  # the schedule calls the LLM for it by its batch rule (rows waiting, age)
    verified = False  # the LLM judges pending tokens by the acceptance rule (else it writes them)

    def propose(self, row, token: int, flagged: bool, step: int, q: torch.Tensor | None) -> None:
        """The SLM's token goes into the row; ``q``: the distribution it was drawn from (or None)."""
        raise NotImplementedError

    def ready(self, row, window: int) -> bool:
        """Whether the row's pending tokens must be checked now, whatever the batch rule."""
        return row.ends_here(window)

    def rides_along(self, row) -> bool:
        """Whether the row's pending tokens are checked when the LLM runs for other rows. That only
        moves who wrote which token where the outcome of a check does not depend on when it
        happens; a sampled verified row's does (a draft that stands whole gets a token the LLM
        draws, where a shorter draft would have kept the SLM's draw), so it waits for its own turn."""
        return True

    def checked(self) -> None:
        """The LLM has checked every pending position."""

    def q(self, position: int) -> torch.Tensor | None:
        """The SLM's distribution at a pending position, where the acceptance rule needs it."""
        return None


class Routed(Mode):
    def propose(self, row, token, flagged, step, q):
        row.append(token, by_llm=flagged, flagged=flagged, step=step)


class Verified(Mode):
    writes_next = True
    batched = False
    verified = True

    def __init__(self):
        self.call = False  # the router flagged a token: check the draft now
        self.dists: dict[int, torch.Tensor] = {}  # sampling: the SLM's distribution at each pending position

    def propose(self, row, token, flagged, step, q):
        if q is not None and row.gen.temperature > 0:
            self.dists[len(row.tokens)] = q
        row.append(token, by_llm=False, flagged=True, step=step)
        self.call = self.call or flagged

    def ready(self, row, window):
        return self.call or len(row.pending) >= row.gen.max_draft or row.ends_here(window)

    def rides_along(self, row):
        return row.gen.temperature <= 0

    def checked(self):
        self.call = False
        self.dists.clear()

    def q(self, position):
        return self.dists.get(position)


class LLMWrites(Mode):
    slm_writes = False
    writes_next = True
    batched = False

    def ready(self, row, window):
        return True


def mode_for(verify: str, needs_slm: bool) -> Mode:
    """A fresh mode object for one request."""
    if not needs_slm:
        return LLMWrites()
    return Verified() if verify == "all" else Routed()
