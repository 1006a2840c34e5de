"""What both engines' sessions share: a queue of requests, rows held in slots, cancelling, and
asking each row's strategy about the SLM's proposals."""

from __future__ import annotations

import torch

from ..router.strategies import StepView
from .threads import single_thread


class SlotQueue:
    """Requests wait in ``queue`` and decode in ``rows`` (slot → row); ``_release`` frees a slot."""

    def cancel(self, rid) -> bool:
        """Drop a request (a client went away). True if it was still queued or running."""
        for row in list(self.queue):
            if row.rid == rid:
                self.queue.remove(row)
                return True
        for slot, row in list(self.rows.items()):
            if row.rid == rid:
                self._release(slot)
                return True
        return False

    @property
    def busy(self) -> bool:
        return bool(self.rows or self.queue)

    def _decide(self, rows: list, hidden: torch.Tensor, logits: torch.Tensor, tokens: list[int], rngs: list[torch.Generator]) -> list[bool]:
        """Ask each row's strategy whether its token goes to the LLM; rows sharing a strategy are
        decided in one call (``rngs``: one routing generator per row). Charges the router's time
        to the rows."""
        before = self._router_timer.seconds
        routed = [False] * len(rows)
        with self._router_timer, single_thread(self.device.type == "cpu"):
            token_t = torch.tensor(tokens, device=self.device)
            groups: dict[int, list[int]] = {}
            for i, r in enumerate(rows):
                groups.setdefault(id(r.strategy), []).append(i)
            for idx in groups.values():
                if len(idx) == len(rows):
                    view = StepView(logits, hidden, token_t, self.embed, rngs)
                else:
                    sel = torch.tensor(idx, device=self.device)
                    view = StepView(logits[sel], hidden[sel], token_t[sel], self.embed, [rngs[i] for i in idx])
                for i, decision in zip(idx, rows[idx[0]].strategy.decide(view)):
                    routed[i] = bool(decision)
        share = (self._router_timer.seconds - before) / len(rows)
        for r in rows:
            r.router_s += share
        return routed
