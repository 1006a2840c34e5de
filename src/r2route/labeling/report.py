"""Label statistics: counts, the paper-style table, and rates by position in the answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

PAPER = {"mismatch_pct": 6.8, "divergent_pct": 2.8}  # R1-1.5B vs R1-32B on math (R2R, Table 1)
BINS = 10


def collect(shards: list[Path]) -> dict:
    """Counts over the shards, reading only the small columns (never the hidden states)."""
    n = mis = div = unparse = skipped = 0
    queries: set[int] = set()
    bins_n, bins_mis, bins_div = np.zeros(BINS), np.zeros(BINS), np.zeros(BINS)
    for path in shards:
        t = pq.read_table(path, columns=["query_id", "rel_position", "mismatch", "divergent"])
        q = t.column("query_id").to_numpy()
        r = t.column("rel_position").to_numpy()
        m = t.column("mismatch").to_numpy(zero_copy_only=False)
        d = t.column("divergent").to_numpy()
        queries.update(q.tolist())
        n += len(q)
        mis += int(m.sum())
        div += int((d == 1).sum())
        unparse += int((d == -1).sum())
        skipped += int((d == -2).sum())
        b = np.minimum((r * BINS).astype(int), BINS - 1)
        np.add.at(bins_n, b, 1)
        np.add.at(bins_mis, b, m.astype(float))
        np.add.at(bins_div, b, (d == 1).astype(float))
    judged = mis - unparse - skipped
    # Divergent share among all tokens, extrapolating the judged sample to unjudged mismatches.
    div_rate = div / judged * mis / n if judged and n else 0.0
    return {
        "queries": len(queries), "tokens": n, "mismatches": mis, "judged": judged, "divergent": div,
        "unparseable": unparse, "not_continued": skipped,
        "mismatch_pct": round(100 * mis / n, 3) if n else 0.0,
        "divergent_pct": round(100 * div_rate, 3),
        "divergent_of_judged_pct": round(100 * div / judged, 3) if judged else 0.0,
        "by_position": {
            "bin_edges": [round(i / BINS, 2) for i in range(BINS + 1)],
            "tokens": bins_n.astype(int).tolist(),
            "mismatch_pct": [round(100 * a / b, 3) if b else 0.0 for a, b in zip(bins_mis, bins_n)],
            "divergent_pct": [round(100 * a / b, 3) if b else 0.0 for a, b in zip(bins_div, bins_n)],
        },
    }


def plot_by_position(stats: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bp = stats["by_position"]
    centers = [(a + b) / 2 for a, b in zip(bp["bin_edges"][:-1], bp["bin_edges"][1:])]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(centers, bp["mismatch_pct"], "o-", label="mismatch (SLM top-1 ≠ LLM)")
    ax.plot(centers, bp["divergent_pct"], "s-", label="divergent (judged)")
    ax.set_xlabel("relative position in the answer")
    ax.set_ylabel("% of tokens")
    ax.set_title(f"{stats['queries']} queries, {stats['tokens']:,} tokens")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


def print_table(stats: dict, extra: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="labels")
    for col in ("", "queries", "tokens", "% mismatch", "% divergent"):
        t.add_column(col, justify="right")
    t.add_row("this run", f"{stats['queries']:,}", f"{stats['tokens']:,}", f"{stats['mismatch_pct']:.2f}", f"{stats['divergent_pct']:.2f}")
    t.add_row("paper (R1-1.5B/32B, math)", "", "", f"{PAPER['mismatch_pct']}", f"{PAPER['divergent_pct']}")
    c = Console(stderr=True)
    c.print(t)
    c.print(f"answers dropped (no EOS in budget): {extra['dropped']}; mismatches judged: {stats['judged']:,} of {stats['mismatches']:,} "
            f"(divergent {stats['divergent_of_judged_pct']:.1f}% of judged); unparseable verdicts: {stats['unparseable']}")
