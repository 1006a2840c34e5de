"""What ships inside the package for a preset pair, made by our own pipeline.

``assets/calibration/<preset>.json``: SLM entropy's threshold per target LLM share (`r2route
calibrate` on GSM8K train records). `generate`, `chat` and `serve` route by entropy with it when
the preset pair is used as is and no other ``--strategy``, ``--router`` or ``--calibration`` is given.

``assets/routers/<preset>/``: a trained router, ``router.json`` + ``router.safetensors`` (its
training metrics and plots stay in ``results/router-<preset>/``), used by ``--strategy neural``
when no ``--router`` is given. It is not the default: on held-out GSM8K test records it ties SLM
entropy (README, "The learned router against SLM entropy").
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


def shipped_calibration(preset: str | None) -> Path | None:
    """The calibration file shipped for a preset pair, or None if that pair has none."""
    if not preset:
        return None
    f = Path(str(resources.files("r2route") / "assets" / "calibration" / f"{preset}.json"))
    return f if f.is_file() else None
