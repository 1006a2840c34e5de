"""Printed tables for a trained router and the ablations (rich, on stdout)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .curves import REPORT_SHARES


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or x != x else f"{x:.{digits}f}"


def _share_cols() -> list[str]:
    """Recall of divergent tokens when the LLM writes this share of all tokens."""
    return [f"R@{r:.0%}" for r in REPORT_SHARES]


def print_metrics(m: dict) -> None:
    """The router against the paper's baselines on the validation tokens."""
    t = Table(title=f"router on {m['val']['tokens']:,} validation tokens ({m['val']['divergent']} divergent, "
                    f"{m['val']['queries']} queries); trained on {m['train']['tokens']:,} tokens",
              caption="R@s: recall of divergent tokens when the top-s share of tokens goes to the LLM; @target: the LLM share the target recall needs")
    for col in ("score", "ROC", "PR", *_share_cols(), "@target"):
        t.add_column(col, justify="right" if col != "score" else "left")
    seeds = m.get("seeds")
    rows = {**({f"seed {x['seed']}": x for x in seeds["seeds"]} | {"ensemble": seeds["ensemble"]} if seeds else {}),
            f"router{' (' + seeds['chosen'] + ')' if seeds else ''}": m["router"], **m["baselines"]}
    for name, s in rows.items():
        at = s.get("at_target_recall", {})
        t.add_row(name, _f(s["roc_auc"]), _f(s["pr_auc"]), *[_f(s["recall_at_share"][str(r)]) for r in REPORT_SHARES],
                  _f(at.get("llm_share")))
    Console().print(t)
    th = m["threshold"]
    Console().print(f"threshold {th['threshold']:.4g}: LLM share {th['llm_share']:.3f}, recall {th['recall']:.3f}, "
                    f"precision {th['precision']:.3f} (target {m['target']}); best epoch {m['training']['best_epoch']}")


def print_ablation(report: dict) -> None:
    t = Table(caption="R@s: recall of divergent tokens when the top-s share of tokens goes to the LLM", title=f"ablations: recall of divergent tokens at equal LLM share ({report['val_tokens']:,} validation tokens, "
                    f"{report['val_divergent']} divergent)")
    t.add_column("features", no_wrap=True)
    t.add_column("objective", no_wrap=True)
    for col in ("ROC", "PR", *_share_cols()[1:4]):
        t.add_column(col, justify="right")
    for r in report["rows"]:
        t.add_row("+".join(r["features"]), r["objective"].replace(" (baseline)", ""), _f(r["roc_auc"]), _f(r["pr_auc"]),
                  *[_f(r["recall_at_share"][str(s)]) for s in REPORT_SHARES[1:4]])
    Console().print(t)
