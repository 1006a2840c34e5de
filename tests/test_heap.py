"""trim_heap calls glibc's malloc_trim where the C library has it, and reports False elsewhere.

What the call frees depends on the allocator's state, so these tests check the call itself, with a
stand-in C library, and that the real lookup finds malloc_trim in glibc.
"""

import platform
import sys
from types import SimpleNamespace

import pytest

from r2route.engine import heap


class FakeLibc:
    """A C library with malloc_trim, as ctypes.CDLL(None) shows it, recording its calls."""

    def __init__(self):
        self.pads: list[int] = []

    def malloc_trim(self, pad: int) -> int:
        self.pads.append(pad)
        return 1


def _use(monkeypatch, libc, os_name: str = "linux") -> list:
    """Make heap see ``libc`` as the process's C library on ``os_name``; return the names CDLL was opened with."""
    opened = []

    def cdll(name):
        opened.append(name)
        return libc

    monkeypatch.setattr(heap, "ctypes", SimpleNamespace(CDLL=cdll))
    monkeypatch.setattr(heap, "sys", SimpleNamespace(platform=os_name))
    return opened


def test_trim_heap_calls_malloc_trim_with_no_padding_and_says_so(monkeypatch):
    libc = FakeLibc()
    opened = _use(monkeypatch, libc)
    assert heap.trim_heap() is True
    assert opened == [None]  # the symbols already loaded into the process: its own C library
    assert libc.pads == [0]  # keep no free memory at the heap's top


def test_trim_heap_is_false_where_the_c_library_has_no_malloc_trim(monkeypatch):
    _use(monkeypatch, SimpleNamespace())  # musl and others
    assert heap.trim_heap() is False


def test_trim_heap_is_false_off_linux_without_opening_a_library(monkeypatch):
    libc = FakeLibc()
    opened = _use(monkeypatch, libc, os_name="darwin")
    assert heap.trim_heap() is False
    assert opened == [] and libc.pads == []


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="needs Linux with glibc")
def test_trim_heap_finds_malloc_trim_in_glibc():
    assert heap.trim_heap() is True
