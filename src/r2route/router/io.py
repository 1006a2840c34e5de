"""Router files: ``router.safetensors`` (weights) + ``router.json`` (config, thresholds, pair identity)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import R2RouteError
from ..fileio import atomic_write_bytes
from .model import RouterConfig, RouterEnsemble, RouterModel, members

FORMAT = "r2route-router"
VERSION = 1


@dataclass
class RouterBundle:
    """A router with its operating points.

    ``curve`` holds calibration points ``{"threshold", "llm_share", "recall"}`` measured on validation
    data, so any target share or recall can be picked later without retraining.
    """

    model: RouterModel
    threshold: float = 0.5
    pair: dict = field(default_factory=dict)
    curve: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def threshold_for_share(self, share: float) -> float:
        """The threshold whose validation LLM share is closest to ``share`` from below."""
        if not self.curve:
            raise R2RouteError("this router has no calibration curve; use --threshold instead of --llm-share")
        pts = sorted(self.curve, key=lambda p: p["threshold"])
        ok = [p for p in pts if p["llm_share"] <= share + 1e-12]
        return (ok[0] if ok else pts[-1])["threshold"]

    def check_pair(self, identity: dict) -> None:
        """Refuse to route a pair the router was not trained for."""
        check_pair_identity(self.pair, identity, "router was trained for")


def check_pair_identity(made_for: dict, identity: dict, what: str, keys: tuple[str, ...] = ("slm", "llm", "tokenizer")) -> None:
    """One line if ``identity`` (``ModelPair.identity()``) is not the pair something was made for,
    compared on ``keys`` (an empty ``made_for`` names no pair and fits any)."""
    for key in keys:
        if key in made_for and made_for[key] != identity.get(key):
            raise R2RouteError(
                f"{what} {made_for.get('slm')} → {made_for.get('llm')} (tokenizer {made_for.get('tokenizer')}), "
                f"not {identity.get('slm')} → {identity.get('llm')} (tokenizer {identity.get('tokenizer')}): {key} differs"
            )


def router_fingerprint(bundle: RouterBundle) -> str:
    """A short hash of the router's weights and threshold: which router produced a result."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(bundle.model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    h.update(repr(bundle.threshold).encode())
    return h.hexdigest()[:16]


def save_router(bundle: RouterBundle, out_dir: str | Path, dtype: torch.dtype = torch.float32) -> Path:
    """Write the router atomically (each file via temp + rename); returns the directory."""
    from safetensors.torch import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in bundle.model.state_dict().items()}
    atomic_write_bytes(out / "router.safetensors", save(state))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": bundle.model.cfg.to_dict(),
        "members": len(members(bundle.model)),
        "threshold": bundle.threshold,
        "pair": bundle.pair,
        "curve": bundle.curve,
        "metrics": bundle.metrics,
    }
    atomic_write_bytes(out / "router.json", (json.dumps(meta, indent=2) + "\n").encode())
    return out


def load_router(path: str | Path, device: torch.device | str = "cpu") -> RouterBundle:
    """Load a router directory (or its ``router.json``); any problem is one clear line."""
    from safetensors.torch import load

    p = Path(path).expanduser()
    directory = p.parent if p.name == "router.json" else p
    meta_path, weights_path = directory / "router.json", directory / "router.safetensors"
    if not directory.exists():
        raise R2RouteError(f"router not found: {p}")
    for f in (meta_path, weights_path):
        if not f.is_file():
            raise R2RouteError(f"router file missing: {f}")
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, expected {FORMAT!r}")
        if meta.get("version", 0) > VERSION:
            raise ValueError(f"version {meta['version']} is newer than this r2route reads ({VERSION})")
        cfg = RouterConfig(**meta["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise R2RouteError(f"corrupt router config {meta_path}: {e}") from None
    try:
        state = load(weights_path.read_bytes())
    except Exception as e:  # safetensors raises its own error types for truncated/garbled files
        raise R2RouteError(f"corrupt router weights {weights_path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    n = int(meta.get("members", 1))
    model = RouterModel(cfg) if n == 1 else RouterEnsemble([RouterModel(cfg) for _ in range(n)])
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        raise R2RouteError(f"router weights {weights_path} do not match its config: {str(e).splitlines()[0]}") from None
    model.to(device).eval()
    return RouterBundle(
        model=model,
        threshold=float(meta.get("threshold", 0.5)),
        pair=meta.get("pair") or {},
        curve=meta.get("curve") or [],
        metrics=meta.get("metrics") or {},
    )
