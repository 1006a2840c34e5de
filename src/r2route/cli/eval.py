"""`r2route eval`: accuracy and cost of every routing method at matched LLM shares, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import defaults
from ..errors import R2RouteError
from .options import (LOCAL_MODELS, BatchOpt, EvalMaxNewOpt, PairFlags, QuietOpt, RouterOpt, RunnerOpt, SharesOpt, TaskFlags,
                      build_pair, default_router, flag_groups, floats, names_router)


@flag_groups
def eval_(
    *,
    records: TaskFlags,
    out: Annotated[Optional[str], typer.Option("--out", help="Run directory (a rerun resumes it).")] = None,
    report: Annotated[Optional[str], typer.Option("--report", help="Re-render table, summary.json and pareto.png of a finished or partial run.")] = None,
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated: slm,llm,neural,entropy,random,query; spec (speculative decoding), neural+verify, entropy+verify (the LLM checks every token).")] = "slm,llm,neural,entropy,random,query",
    accept_margin: Annotated[float, typer.Option("--accept-margin", help="The verified methods' acceptance margin in nats (0: lossless).")] = defaults.ACCEPT_MARGIN,
    max_draft: Annotated[int, typer.Option("--max-draft", help="spec's draft length, and the longest draft of the +verify methods.")] = defaults.MAX_DRAFT,
    llm_shares: SharesOpt = ",".join(map(str, defaults.EVAL_LLM_SHARES)),
    calibration: Annotated[Optional[str], typer.Option("--calibration", help="Read the thresholds from this file (made by `r2route calibrate` for the same pair, records and --max-new-tokens) instead of decoding the calibration records.")] = None,
    max_new_tokens: EvalMaxNewOpt = defaults.EVAL_MAX_NEW_TOKENS,
    batch: BatchOpt = defaults.EVAL_BATCH,
    probe_tokens: Annotated[int, typer.Option("--probe-tokens", help="SLM tokens the query-level router reads.")] = defaults.EVAL_PROBE_TOKENS,
    router: RouterOpt = None,
    models: Annotated[PairFlags, LOCAL_MODELS],
    runner: RunnerOpt = defaults.RUNNER,
    quiet: QuietOpt = False,
) -> None:
    """Evaluate SLM, LLM and routed methods at matched LLM shares; print a table, write pareto.png."""
    from ..evaluation import EvalConfig, Evaluation, render_report
    from ..evaluation.runner import base
    from ..router import load_router

    if report:
        if records.task or out or calibration:
            raise R2RouteError("--report re-renders a run: give it alone (no --task/--out/--calibration)")
        render_report(Path(report))
        return
    if not records.task or not out:
        raise R2RouteError("give --task and --out (or --report RUN_DIR)")
    cfg = EvalConfig(methods=tuple(m.strip() for m in methods.split(",") if m.strip()), shares=floats(llm_shares, "--llm-shares"),
                     max_new_tokens=max_new_tokens, batch=batch, probe_tokens=probe_tokens, accept_margin=accept_margin, max_draft=max_draft,
                     runner=runner)
    cfg.validate()
    t = records.load()
    if Path(out).exists() and not Path(out).is_dir():
        raise R2RouteError(f"--out {out} exists and is not a directory")
    if calibration is not None and not Path(calibration).is_file():
        raise R2RouteError(f"--calibration {calibration}: no such file (make it with r2route calibrate)")
    pcfg = models.config()
    wants_router = any(base(m) == "neural" for m in cfg.methods)
    rpath = default_router(pcfg, "neural", router) if wants_router else None
    bundle = load_router(rpath) if rpath and names_router(rpath) else None
    if wants_router and bundle is None:
        raise R2RouteError("method neural needs a router: --router PATH (or a pair with a shipped router)")
    mp = build_pair(pcfg)
    if bundle is not None:
        bundle.check_pair(mp.identity())
        bundle.model.to(mp.device)
    ev = Evaluation(mp, t, cfg, out, bundle, progress=not quiet, calibration=calibration)
    ev.run()
    render_report(Path(out))
