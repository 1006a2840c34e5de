"""Training queries from a JSONL file: one JSON object per line, the query text under ``field``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import R2RouteError


@dataclass(frozen=True)
class Query:
    id: int  # the record's index in the file (0-based, blank lines not counted)
    text: str


def read_jsonl(path: str | Path, limit: int | None = None) -> list[tuple[int, dict]]:
    """(line number, object) for the first ``limit`` non-blank lines; a problem is one line naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise R2RouteError(f"data file not found: {p}")
    out: list[tuple[int, dict]] = []
    with open(p, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if limit is not None and len(out) >= limit:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise R2RouteError(f"{p}:{lineno}: not UTF-8 ({e.reason} at byte {e.start})") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise R2RouteError(f"{p}:{lineno}: malformed JSON ({e.msg}, column {e.colno})") from None
            if not isinstance(rec, dict):
                raise R2RouteError(f"{p}:{lineno}: expected a JSON object, got {type(rec).__name__}")
            out.append((lineno, rec))
    if not out:
        raise R2RouteError(f"data file is empty: {p}")
    return out


def read_queries(path: str | Path, field: str, limit: int | None = None) -> list[Query]:
    """The first ``limit`` records' ``field``; every problem is one line naming the file and line."""
    if limit is not None and limit <= 0:
        raise R2RouteError(f"--limit must be ≥ 1, got {limit}")
    out: list[Query] = []
    for lineno, rec in read_jsonl(path, limit):
        if field not in rec:
            keys = ", ".join(sorted(rec)) or "none"
            raise R2RouteError(f"{path}:{lineno}: no field {field!r} (fields: {keys}); pick one with --field")
        text = rec[field]
        if not isinstance(text, str) or not text.strip():
            raise R2RouteError(f"{path}:{lineno}: field {field!r} is not a non-empty string")
        out.append(Query(len(out), text))
    return out
