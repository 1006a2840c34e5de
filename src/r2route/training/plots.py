"""Validation plots of a router against the paper's baselines (SLM entropy, SLM max probability)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fileio import atomic_write_bytes
from .curves import pr_curve, routed_at, threshold_for_share

_STYLE = {"router": ("C0", "-"), "entropy": ("C1", "--"), "max_prob": ("C2", ":")}


def _save(fig, path: Path) -> None:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_curves(scores: dict[str, np.ndarray], labels: np.ndarray, chosen: dict, out: Path, title: str) -> list[Path]:
    """``pr_curve.png`` and ``share_vs_recall.png`` for every score in ``scores`` on one label vector."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for name, s in scores.items():
        r, p = pr_curve(s, labels)
        c, ls = _STYLE.get(name, (None, "-"))
        ax.plot(r, p, color=c, linestyle=ls, label=name)
    ax.axhline(float(np.mean(labels)), color="grey", linewidth=0.8, label="random")
    ax.set_xlabel("recall (divergent tokens routed)")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out / "pr_curve.png")
    paths.append(out / "pr_curve.png")

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    grid = np.linspace(0, 1, 201)
    for name, s in scores.items():
        pts = [routed_at(s, labels, threshold_for_share(s, g)) for g in grid]
        c, ls = _STYLE.get(name, (None, "-"))
        ax.plot([p["llm_share"] for p in pts], [p["recall"] for p in pts], color=c, linestyle=ls, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="random")
    ax.plot([chosen["llm_share"]], [chosen["recall"]], "o", color="C3",
            label=f"threshold {chosen['threshold']:.3g}: share {chosen['llm_share']:.3f}, recall {chosen['recall']:.3f}")
    ax.set_xlabel("LLM share (tokens routed)")
    ax.set_ylabel("recall (divergent tokens routed)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save(fig, out / "share_vs_recall.png")
    paths.append(out / "share_vs_recall.png")
    return paths
