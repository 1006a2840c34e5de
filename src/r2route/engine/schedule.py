"""When the LLM is called: a pure function of step counts and the batch, never of the clock.

A flagged row does not wait for the LLM: it writes on with the SLM's token, marked pending. One LLM
call then serves every row with pending positions, so the later the call, the more rows (and
positions) it serves, and the more SLM tokens a rejected position throws away. The rule:

- call when at least ``ceil(rows_fraction × running rows)`` rows of the batched modes (R2R) have
  pending positions (one running row: at once, which is plain R2R);
- or when the oldest such pending position is ``max_age`` steps old (bounds latency and waste);
- or when a row's mode says it must be checked now (:meth:`.modes.Mode.ready`: its provisional
  tail ends the request; under ``verify all``, a router flag or a full draft);
- rows whose next token is the LLM's anyway (LLM-only rows; under text handoff an unfinished word)
  are served every step;
- a pair that cannot keep a flagged token provisionally (text handoff) is served in the step it flags.
When the LLM runs, it serves every row with pending positions (a row that rides along early only
has a shorter draft checked), except sampled verified rows, which wait for their own turn
(:meth:`.modes.Mode.rides_along`): their text would depend on when their batch-mates are checked.

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

    def due(self, rows: dict[int, Row], step: int, window: int, handoff) -> list[int]:
        """The slots the LLM serves this step (``handoff``: the session's, which says whether a
        flagged token may wait and whose turn it is)."""
        every_step = [s for s, r in rows.items() if handoff.llm_turn(r)]
        waiting = [s for s, r in rows.items() if r.pending and s not in every_step]
        if not waiting:
            return sorted(every_step)
        if not handoff.provisional:
            return sorted(every_step + waiting)
        batched = [s for s in waiting if rows[s].mode.batched]
        need = max(1, math.ceil(self.rows_fraction * len(rows)))
        due = any(rows[s].mode.ready(rows[s], window) for s in waiting)
        if batched:
            due = due or len(batched) >= need or step - min(rows[s].flagged_at for s in batched) >= self.max_age
        if not due:
            return sorted(every_step)
        return sorted(every_step + [s for s in waiting if rows[s].mode.rides_along(rows[s]) or rows[s].mode.ready(rows[s], window)])
