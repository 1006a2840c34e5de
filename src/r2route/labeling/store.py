"""The label run's directory: atomic writes, units of work, and the settings guard.

Every unit of work (one step for one chunk of queries) is one file written to a temporary name
and renamed into place, so a file that exists is complete. A rerun skips the units whose file
exists and holds the same queries, so killing the process at any moment loses at most the unit in
flight. ``label-config.json`` records the pair and settings; another pair or other settings into
the same directory are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..fileio import atomic_write_bytes, claim_run_dir

STEPS = ("answers", "features", "continuations", "verdicts", "shards")
_EXT = {"answers": "json", "features": "parquet", "continuations": "json", "verdicts": "json", "shards": "parquet"}


def atomic_write_table(path: Path, table) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


class RunDir:
    """``--out``: where each step's units live, named by chunk index."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, step: str, chunk: int) -> Path:
        return self.root / step / f"{chunk:05d}.{_EXT[step]}"

    def claim(self, config: dict) -> None:
        """Write the run's settings, or check that an existing run has the same ones."""
        claim_run_dir(self.root, "label-config.json", config, "label run")
        # a write cut short by a kill (a unit's, or a root file's such as dataset.json); it is redone
        for tmp in [*self.root.glob(".*.tmp"), *self.root.glob("*/.*.tmp")]:
            tmp.unlink(missing_ok=True)

    def load_json(self, step: str, chunk: int, queries: list[int]):
        """The unit's content if it exists and covers exactly ``queries``, else None."""
        p = self.path(step, chunk)
        if not p.is_file():
            return None
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return obj if obj.get("queries") == queries else None

    def has_table(self, step: str, chunk: int, queries: list[int]) -> bool:
        import pyarrow.parquet as pq

        p = self.path(step, chunk)
        if not p.is_file():
            return False
        try:
            meta = pq.read_schema(p).metadata or {}
        except Exception:
            return False
        return json.loads(meta.get(b"queries", b"null")) == queries
