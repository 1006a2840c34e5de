"""Crash-safe file writes: a file that exists is complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same directory, fsync, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj, sort_keys: bool = True) -> None:
    """``obj`` as indented UTF-8 JSON, written atomically."""
    import json

    atomic_write_bytes(path, (json.dumps(obj, indent=1, ensure_ascii=False, sort_keys=sort_keys) + "\n").encode("utf-8"))


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def claim_run_dir(root: Path, name: str, config: dict, what: str) -> None:
    """Start a run directory by writing ``config`` to ``root/name``, or check that the run already
    there was made with the same settings; a mismatch names the differing keys in one line."""
    import json

    from .errors import R2RouteError

    root = Path(root)
    if root.exists() and not root.is_dir():
        raise R2RouteError(f"--out {root} exists and is not a directory")
    path = root / name
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            raise R2RouteError(f"{path} is unreadable; remove it or choose another --out") from None
        if old != config:
            a, b = _flat(old), _flat(config)
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            article = "an" if what[:1] in "aeiou" else "a"
            raise R2RouteError(f"--out {root} holds {article} {what} made with other settings ({', '.join(diff)} differ); "
                               "choose another --out or rerun with the same settings")
    elif root.is_dir() and any(not p.name.startswith(".") for p in root.iterdir()):  # a .gitignore may be there
        raise R2RouteError(f"--out {root} is not empty and holds no {what}; choose another --out")
    else:
        atomic_write_json(path, config)
