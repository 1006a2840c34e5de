"""The evaluation's table (rich) and ``pareto.png``: accuracy vs LLM share and vs average parameters."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..errors import R2RouteError
from ..fileio import atomic_write_bytes, atomic_write_json
from .runner import ResultsFile
from .summary import summarize

_STYLE = {"neural": ("C0", "o-"), "entropy": ("C1", "s--"), "random": ("C7", "^:"), "query": ("C2", "d-.")}
_SPARE = ("C4", "C5", "C6", "C8", "C9")  # colours no method above and no reference point uses


def _styles(methods: list[str]) -> dict[str, dict]:
    """Matplotlib keywords per routed method: a verified method (``x+verify``) keeps its router's colour
    and marker, hollow and dotted, so that the two read as one router checked or not; other unknown
    methods take spare colours in turn (matplotlib's own cycle would repeat neural's and entropy's)."""
    out, spare = {}, iter(_SPARE * 4)
    for m in methods:
        base, _, extra = m.partition("+")
        color, fmt = _STYLE.get(base) or (next(spare), "o-")
        marker = fmt.rstrip("-.:")
        if extra == "verify":
            out[m] = {"color": color, "marker": marker, "linestyle": ":", "markerfacecolor": "none"}
        else:
            out[m] = {"color": color, "marker": marker, "linestyle": fmt[len(marker):]}
    return out


def _params(n: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def print_summary(summary: dict, task: str) -> None:
    t = Table(title=f"{task}: {summary['records']} records (every method on the same records)",
              caption="share: measured LLM share of output tokens \\[target]; params: average activated; lat: mean seconds per query; len: mean output tokens; "
                      "calls/tok: LLM forwards per output token; waste/tok: SLM tokens dropped by rollbacks per output token; "
                      "=llm: completions identical to the LLM alone's")
    for col in ("method", "share", "acc", "95% CI", "params", "tok/s", "lat s", "len", "calls/tok", "waste/tok", "=llm"):
        t.add_column(col, justify="left" if col == "method" else "right")
    order = {"slm": 0, "llm": 1}
    for p in sorted(summary["points"], key=lambda p: (order.get(p["method"], 2), p["method"], p["target_share"] or 0)):
        target = "" if p["target_share"] is None else f" [{p['target_share']:g}]"
        t.add_row(p["method"], f"{p['llm_share']:.3f}{target}", f"{p['accuracy']:.3f}", f"{p['ci95'][0]:.2f}–{p['ci95'][1]:.2f}",
                  _params(p["avg_params"]), f"{p['tokens_per_s']:.1f}", f"{p['latency_s']:.1f}", f"{p['output_tokens']:.0f}",
                  f"{p['llm_calls_per_token']:.3f}" if "llm_calls_per_token" in p else "–",
                  f"{p['wasted_per_token']:.3f}" if "wasted_per_token" in p else "–",
                  f"{p['same_as_llm']}/{p['n']}" if "same_as_llm" in p else "–")
    Console().print(t)
    if summary["methods"]:
        m = Table(title="RouteLLM figures: area under the gap-recovered curve, LLM share needed for 50%/80% of the SLM→LLM gap")
        for col in ("method", "APGR", "share@50%", "share@80%"):
            m.add_column(col, justify="left" if col == "method" else "right")

        def f(x):
            return "–" if x is None else f"{x:.3f}"

        for name, v in summary["methods"].items():
            m.add_row(name, f(v["apgr"]), f(v["share_for_50pct_gap"]), f(v["share_for_80pct_gap"]))
        Console().print(m)
    if summary.get("paired"):
        d = Table(title="neural router against each baseline at the same target share, on the same records",
                  caption="records: those both methods finished; diff: accuracy difference; 95% CI: paired bootstrap "
                          "over records; wins/losses: records only one of the two got right")
        for col in ("versus", "share", "records", "diff", "95% CI", "wins", "losses"):
            d.add_column(col, justify="left" if col == "versus" else "right")
        for c in summary["paired"]:
            d.add_row(c["versus"], f"{c['target_share']:g}", str(c["n"]), f"{c['difference']:+.3f}", f"{c['ci95'][0]:+.2f} to {c['ci95'][1]:+.2f}",
                      str(c["only_method_right"]), str(c["only_versus_right"]))
        Console().print(d)


def plot_pareto(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ref = {p["method"]: p for p in summary["points"] if p["target_share"] is None}
    top = max((p["avg_params"] for p in summary["points"]), default=0)
    unit, pscale = ("B", 1e-9) if top >= 1e9 else ("M", 1e-6)
    panels = ((axes[0], "llm_share", "LLM share (measured)"), (axes[1], "avg_params", f"average activated parameters ({unit})"),
              (axes[2], "tokens_per_s", "tokens/s (batched, this machine)"))
    styles = _styles(sorted({p["method"] for p in summary["points"] if p["target_share"] is not None}))
    for ax, key, label in panels:
        scale = pscale if key == "avg_params" else 1.0
        for method, style in styles.items():
            pts = sorted((p for p in summary["points"] if p["method"] == method), key=lambda p: p[key])
            ax.errorbar([p[key] * scale for p in pts], [p["accuracy"] for p in pts],
                        yerr=[[p["accuracy"] - p["ci95"][0] for p in pts], [p["ci95"][1] - p["accuracy"] for p in pts]],
                        **style, label=method, capsize=2, markersize=5, linewidth=1.2, alpha=0.9)
        for name, marker in (("slm", "v"), ("llm", "*")):
            if name in ref:
                ax.plot([ref[name][key] * scale], [ref[name]["accuracy"]], marker, color="black", markersize=10, label=f"{name} only")
        for name in sorted(set(ref) - {"slm", "llm"}):  # single points such as speculative decoding
            ax.plot([ref[name][key] * scale], [ref[name]["accuracy"]], "P", color="C3", markersize=9, label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def render_report(run: Path) -> dict:
    """Summary, table and ``pareto.png`` from a run directory's saved rows (no models needed)."""
    cfg_path, res_path = run / "eval-config.json", run / "results.jsonl"
    if not cfg_path.is_file():
        raise R2RouteError(f"{run} holds no evaluation (no eval-config.json)")
    cfg = json.loads(cfg_path.read_text())
    rows = ResultsFile(res_path).rows if res_path.is_file() else []
    if not rows:
        raise R2RouteError(f"{run} has no finished rows yet")
    summary = summarize(rows, cfg["params"]["slm"], cfg["params"]["llm"])
    summary["task"] = cfg["task"]["name"]
    summary["pair"] = cfg["pair"]
    atomic_write_json(run / "summary.json", summary, sort_keys=False)
    print_summary(summary, cfg["task"]["name"])
    plot_pareto(summary, run / "pareto.png", f"{cfg['task']['name']}, {summary['records']} records: "
                f"{cfg['pair']['slm']} → {cfg['pair']['llm']}")
    return summary
