"""What both engines' sessions share: a queue of requests, rows held in slots, and cancelling."""

from __future__ import annotations


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
