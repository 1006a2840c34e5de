"""Evaluation: tasks and graders, calibration at matched LLM share, the resumable run, the report."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import R2RouteError
from ..fileio import atomic_write_bytes
from .runner import METHODS, EvalConfig, Evaluation, ResultsFile
from .summary import summarize


def render_report(run: Path) -> dict:
    """Summary, table and ``pareto.png`` from a run directory's saved rows (no models needed)."""
    from .report import plot_pareto, print_summary

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
    atomic_write_bytes(run / "summary.json", (json.dumps(summary, indent=1) + "\n").encode())
    print_summary(summary, cfg["task"]["name"])
    plot_pareto(summary, run / "pareto.png", f"{cfg['task']['name']}, {summary['records']} records: "
                f"{cfg['pair']['slm']} → {cfg['pair']['llm']}")
    return summary


__all__ = ["METHODS", "EvalConfig", "Evaluation", "render_report", "summarize"]
