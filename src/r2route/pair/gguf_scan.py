"""Read a GGUF file's tensor table without parsing its metadata.

``gguf.GGUFReader`` turns every metadata value into Python objects — for a 151k-token vocabulary
that is 18 s per file. Skipping the values costs a fraction of a second.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import R2RouteError
from ..optional import require

# GGUF value types → byte sizes of the scalar ones (8 = string, 9 = array).
_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def check_gguf(path: str | Path) -> None:
    """Refuse a file that is not GGUF or that ends before its last tensor does (a cut download):
    llama.cpp would say only that it could not load it, or read past the end."""
    try:
        table = tensor_table(path)
    except ValueError as e:
        raise R2RouteError(str(e)) from None
    except (struct.error, UnicodeDecodeError, OverflowError):
        raise R2RouteError(f"{path} is cut short inside its header: download or assemble it again") from None
    sizes = require("gguf", "gguf", "checking a GGUF file needs the gguf package").GGML_QUANT_SIZES
    need = 0
    for t in table.values():
        block, type_size = sizes.get(t.ggml_type, (1, 0))
        need = max(need, t.offset + int(np.prod(t.shape)) // block * type_size)
    have = Path(path).stat().st_size
    if have < need:
        raise R2RouteError(f"{path} is cut short: its tensors end at byte {need:,}, the file has {have:,}; download or assemble it again")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # GGUF order: shape[0] is the innermost (row length)
    ggml_type: int
    offset: int  # absolute, in the file


def tensor_table(path: str | Path) -> dict[str, TensorInfo]:
    """Name → :class:`TensorInfo` for every tensor in a GGUF file."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if len(m) < 24 or m[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        _, n_tensors, n_kv = struct.unpack_from("<IQQ", m, 4)
        pos, alignment = 24, 32

        def string(p: int) -> tuple[str, int]:
            (n,) = struct.unpack_from("<Q", m, p)
            return m[p + 8 : p + 8 + n].decode("utf-8", "replace"), p + 8 + n

        def skip(p: int, t: int) -> int:
            if t in _SCALAR:
                return p + _SCALAR[t]
            if t == 8:
                (n,) = struct.unpack_from("<Q", m, p)
                return p + 8 + n
            et, count = struct.unpack_from("<IQ", m, p)
            p += 12
            if et in _SCALAR:
                return p + _SCALAR[et] * count
            for _ in range(count):
                p = skip(p, et)
            return p

        for _ in range(n_kv):
            key, pos = string(pos)
            (t,) = struct.unpack_from("<I", m, pos)
            pos += 4
            if key == "general.alignment":
                (alignment,) = struct.unpack_from("<I", m, pos)
            pos = skip(pos, t)
        infos = []
        for _ in range(n_tensors):
            name, pos = string(pos)
            (nd,) = struct.unpack_from("<I", m, pos)
            shape = struct.unpack_from(f"<{nd}Q", m, pos + 4)
            ggml_type, off = struct.unpack_from("<IQ", m, pos + 4 + 8 * nd)
            pos += 4 + 8 * nd + 12
            infos.append((name, tuple(shape), ggml_type, off))
        data_start = (pos + alignment - 1) // alignment * alignment
    return {n: TensorInfo(n, s, t, data_start + o) for n, s, t, o in infos}


class MatrixRows:
    """A 2-D tensor of a GGUF file, memory-mapped, dequantized row by row on demand.

    The router needs a handful of embedding rows per step; dequantizing a 151k-row table up front
    costs seconds and half a GB, so rows are decoded when asked for and kept (a text reuses few
    distinct tokens; dequantizing one row costs ~0.3 ms on a busy CPU, a cached one ~10 µs)."""

    def __init__(self, path: str | Path, info: TensorInfo):
        gguf = require("gguf", "gguf", "reading GGUF tensors needs the gguf package")
        self._dequantize = require("gguf.quants", "gguf").dequantize
        self.cols, self.n_rows = info.shape[0], int(np.prod(info.shape[1:]))
        self.qtype = gguf.GGMLQuantizationType(info.ggml_type)
        block, type_size = gguf.GGML_QUANT_SIZES[self.qtype]
        self.raw = np.memmap(path, dtype=np.uint8, mode="r", offset=info.offset, shape=(self.n_rows, self.cols // block * type_size))
        self._cache: dict[int, np.ndarray] = {}

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows ``ids`` (any shape of integers), float32, shape ``ids.shape + (cols,)``."""
        ids = np.asarray(ids, dtype=np.int64)
        flat = ids.reshape(-1).tolist()
        new = sorted({i for i in flat if i not in self._cache})
        if new:
            rows = self._dequantize(np.ascontiguousarray(self.raw[new]), self.qtype).reshape(len(new), self.cols).astype(np.float32)
            self._cache.update(zip(new, rows))
        out = np.stack([self._cache[i] for i in flat]) if flat else np.zeros((0, self.cols), np.float32)
        return out.reshape(*ids.shape, self.cols)
