"""The decoding thread: one live batch that requests join as they arrive.

HTTP handlers run on the asyncio loop; decoding runs here, so a step never blocks the loop. Each
request gets an asyncio queue; events cross over with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from dataclasses import dataclass

from ..engine.request import GenerationConfig, PairPrompt, Result, TokenEvent, slm_length
from ..router.strategies import Strategy


@dataclass
class Failure:
    """Sent to a request's queue when decoding broke; the message is safe to show."""

    message: str


@dataclass
class Handle:
    rid: int
    events: asyncio.Queue  # TokenEvent … then a Result (or a Failure)
    prompt_tokens: int


class EngineWorker:
    """Owns the DecodeSession; the only thread that touches models and caches."""

    def __init__(self, session):
        self.session = session
        self.inbox: queue.Queue = queue.Queue()
        self._sinks: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="r2route-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.inbox.put(None)
        self._thread.join(timeout=10)

    def submit(self, prompt: list[int] | PairPrompt, gen: GenerationConfig, strategy: Strategy | None) -> Handle:
        """Queue a request from the event loop; events arrive on the returned handle."""
        handle = Handle(next(self._ids), asyncio.Queue(), slm_length(prompt))  # all that can fail, before queuing
        self._sinks[handle.rid] = (asyncio.get_running_loop(), handle.events)
        self.inbox.put(("submit", handle.rid, prompt, gen, strategy))
        return handle

    def cancel(self, rid: int) -> None:
        """Stop a request's generation (its client went away)."""
        self.inbox.put(("cancel", rid))

    def _send(self, rid: int, item) -> None:
        sink = self._sinks.get(rid)
        if sink is not None:
            loop, q = sink
            loop.call_soon_threadsafe(q.put_nowait, item)

    def _drain(self, block: bool) -> None:
        try:
            msg = self.inbox.get(timeout=0.5) if block else self.inbox.get_nowait()
        except queue.Empty:
            return
        while msg is not None:
            if msg[0] == "submit":
                _, rid, ids, gen, strat = msg
                try:
                    self.session.submit(rid, ids, gen, strat)
                except Exception as e:  # validated before, so only a bug lands here
                    self._send(rid, Failure(str(e)))
                    self._sinks.pop(rid, None)
            elif msg[0] == "cancel":
                self.session.cancel(msg[1])
                self._sinks.pop(msg[1], None)
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return

    def _run(self) -> None:
        while not self._stop.is_set():
            self._drain(block=not self.session.busy)
            if not self.session.busy:
                continue
            try:
                events: list[TokenEvent] = self.session.step()
            except Exception as e:  # fail the batch, keep serving
                for rid in [r.rid for r in self.session.rows.values()] + [r.rid for r in self.session.queue]:
                    self.session.cancel(rid)
                    self._send(rid, Failure(f"decoding failed: {type(e).__name__}: {e}"))
                    self._sinks.pop(rid, None)
                continue
            for ev in events:
                self._send(ev.request, ev)
                if ev.done:
                    result: Result = self.session.finished.pop(ev.request)
                    self._send(ev.request, result)
                    self._sinks.pop(ev.request, None)
