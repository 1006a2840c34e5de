"""When the LLM is called: a pure function of step counts and the batch, never of the clock.

A flagged row does not wait for the LLM: it writes on with the SLM's token, marked pending. One LLM
call then serves every row with pending positions, so the later the call, the more rows (and
positions) it serves, and the more SLM tokens a rejected position throws away. The rule:

- call when at least ``ceil(rows_fraction × running rows)`` rows have pending positions
  (one running row: at once, which is plain R2R);
- or when the oldest pending position is ``max_age`` steps old (bounds latency and waste);
- or when a row cannot go on before its pending positions are resolved (its provisional tail
  ends the request);
- rows whose strategy never uses the SLM (LLM only), or whose next token is the LLM's anyway (text
  handoff: ``Row.llm_turn``), are served every step;
- a pair that cannot keep a flagged token provisionally (text handoff) is served in the step it flags;
- under ``verify all`` every SLM token is pending, and a row asks for the LLM when the router flags
  a token or its draft reaches ``max_draft`` tokens (the router decides *when* to check).
When the LLM runs, it serves every row with pending positions: a row that rides along early only
has a shorter draft checked.

Because nothing here reads a clock, a row's tokens depend only on its prompt and settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import defaults
from ..errors import R2RouteError
from .row import Row


@dataclass(frozen=True)
class Schedule:
    max_age: int = defaults.SCHEDULE_MAX_AGE
    rows_fraction: float = defaults.SCHEDULE_ROWS_FRACTION

    def __post_init__(self):
        if self.max_age < 0:
            raise R2RouteError(f"the schedule's max age must be ≥ 0, got {self.max_age}")
        if not 0.0 < self.rows_fraction <= 1.0:
            raise R2RouteError(f"the schedule's rows fraction must be in (0, 1], got {self.rows_fraction}")

    def due(self, rows: dict[int, Row], step: int, window: int, provisional: bool = True) -> list[int]:
        """The slots the LLM serves this step (``provisional``: whether flagged tokens may wait)."""
        every_step = [s for s, r in rows.items() if not r.strategy.needs_slm or r.llm_turn]
        waiting = [s for s, r in rows.items() if r.pending and s not in every_step]
        if not waiting:
            return sorted(every_step)
        if not provisional:
            return sorted(every_step + waiting)
        routed = [s for s in waiting if rows[s].gen.verify == "none"]
        need = max(1, math.ceil(self.rows_fraction * len(rows)))
        due = any(rows[s].ready(window) for s in waiting if rows[s].gen.verify == "all") or any(rows[s].ends_here(window) for s in waiting)
        if routed:
            due = due or len(routed) >= need or step - min(rows[s].flagged_at for s in routed) >= self.max_age
        return sorted(every_step + waiting) if due else sorted(every_step)
