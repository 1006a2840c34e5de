"""Run small tensor work on one CPU thread.

The router's work per step is tiny (a top-k over the vocabulary, a 1.5M-parameter MLP on a few
rows). With several intra-op threads, each op is a parallel region that waits for every thread;
when another busy thread holds a core (llama.cpp's workers, a second process) one region stalls
for a whole scheduler slice. On this 2-core machine under load the router took 40 ms per step with
2 threads and 0.6 ms with 1 (benchmarks/router_overhead.py).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def single_thread(enabled: bool = True):
    """Limit torch to one intra-op thread inside the block (no-op when ``enabled`` is False)."""
    n = torch.get_num_threads()
    if not enabled or n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
