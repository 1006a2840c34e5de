"""Hand the heap's free pages back to the OS when a batch ends.

A decode step makes big short-lived arrays (logits rows of 151,936 floats, verification's of up to
a batch × (K + 1) of them). Once glibc has seen such a block freed it raises its mmap threshold and
serves the next ones from its heap, whose pages it keeps when they are freed: each new call shape
left ~12 MiB resident in the speed benchmark (docs/engine.md, "Caches"). ``malloc_trim`` returns the free
pages, costing a walk of the heap (well under a millisecond here), so a decode session calls it
whenever its last row finishes: at the end of each ``Engine.generate``, and whenever the server goes
idle. Other C libraries have no such call; it is skipped there.
"""

from __future__ import annotations

import ctypes
import sys


def trim_heap() -> bool:
    """Give free heap pages back to the OS (glibc); True if the call exists here."""
    if not sys.platform.startswith("linux"):
        return False
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is None:  # musl and others
        return False
    trim(0)
    return True
