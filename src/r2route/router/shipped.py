"""Routers that ship inside the package, trained by our own pipeline for a preset pair.

``assets/routers/<preset>/`` holds ``router.json`` + ``router.safetensors`` (the training
metrics and plots stay in ``results/router-<preset>/``). `generate`, `chat` and `serve` route with it when the preset pair is used as is
and no ``--router`` or other ``--strategy`` is given.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped_router(preset: str | None) -> Path | None:
    """The shipped router directory of a preset pair, or None if that pair has none."""
    if not preset:
        return None
    d = Path(str(resources.files("r2route") / "assets" / "routers" / preset))
    return d if (d / "router.json").is_file() and (d / "router.safetensors").is_file() else None
