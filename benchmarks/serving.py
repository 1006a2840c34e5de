"""What the two server benchmarks (serve_load.py, serve_faults.py) share: a server on loopback, its
solo reference answers, and clients run concurrently.

- ``serve_args(pair, max_batch, strategy, llm_share, extra)``: ``r2route serve`` options for a
  server on the CPU.
- ``served(args)``: a context manager yielding (process, base URL) of a server on a free loopback
  port, stopped afterwards.
- ``solo_reference(questions, ask)``: each question answered once, alone, before any load: greedy
  decoding must give every later answer to it exactly this text, whatever its batch-mates.
- ``concurrently(n, client)``: ``client(0)`` … ``client(n - 1)`` on their own threads; the wall seconds.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterable

from r2route.server.launch import start_server, stop_server


def serve_args(pair: str, max_batch: int | str, strategy: str = "random", llm_share: float | str | None = None,
               extra: Iterable[str] = ()) -> list[str]:
    """``r2route serve`` options: ``pair`` on the CPU with ``strategy`` (and ``--llm-share`` where
    given), at most ``max_batch`` rows, then ``extra``."""
    args = ["--pair", pair, "--device", "cpu", "--strategy", strategy, "--max-batch", str(max_batch)]
    if llm_share is not None:
        args += ["--llm-share", str(llm_share)]
    return args + list(extra)


@contextmanager
def served(args: list[str]):
    """(process, base URL) of ``r2route serve`` started with ``args`` on a free loopback port."""
    proc, base = start_server(args)
    try:
        yield proc, base
    finally:
        stop_server(proc)


def solo_reference(questions: Iterable[str], ask: Callable[[str], object]) -> dict:
    """question → ``ask(question)``, one at a time, before any concurrent load."""
    return {q: ask(q) for q in questions}


def concurrently(n: int, client: Callable[[int], None]) -> float:
    """Run ``client(i)`` for i < n on n threads at once; the wall seconds until all have returned."""
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0
