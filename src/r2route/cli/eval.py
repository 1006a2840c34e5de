"""`r2route eval`: accuracy and cost of every routing method at matched LLM shares, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import defaults
from ..errors import R2RouteError
from .options import LOCAL_MODELS, PairFlags, RouterOpt, RunnerOpt, build_pair, default_router, flag_groups


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise R2RouteError(f"{name} must be comma-separated numbers, got {text!r}") from None


@flag_groups
def eval_(
    *,
    task: Annotated[Optional[str], typer.Option("--task", help="gsm8k, math500, humaneval, or a .jsonl file (with --prompt-field/--answer-field/--grader).")] = None,
    out: Annotated[Optional[str], typer.Option("--out", help="Run directory (a rerun resumes it).")] = None,
    report: Annotated[Optional[str], typer.Option("--report", help="Re-render table, summary.json and pareto.png of a finished or partial run.")] = None,
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated: slm,llm,neural,entropy,random,query; spec (speculative decoding), neural+verify, entropy+verify (the LLM checks every token).")] = "slm,llm,neural,entropy,random,query",
    accept_margin: Annotated[float, typer.Option("--accept-margin", help="The verified methods' acceptance margin in nats (0: lossless).")] = defaults.ACCEPT_MARGIN,
    max_draft: Annotated[int, typer.Option("--max-draft", help="spec's draft length, and the longest draft of the +verify methods.")] = defaults.MAX_DRAFT,
    llm_shares: Annotated[str, typer.Option("--llm-shares", help="Target LLM shares for the routed methods.")] = ",".join(map(str, defaults.EVAL_LLM_SHARES)),
    limit: Annotated[Optional[int], typer.Option("--limit", help="Evaluate N records (from --first).")] = None,
    first: Annotated[int, typer.Option("--first", help="Index of the first record to evaluate (0-based; ids stay the file's indexes).")] = 0,
    data: Annotated[Optional[str], typer.Option("--data", help="The task's JSONL file instead of ../shared/data.")] = None,
    prompt_field: Annotated[Optional[str], typer.Option("--prompt-field", help="Field holding the prompt (task files).")] = None,
    answer_field: Annotated[Optional[str], typer.Option("--answer-field", help="Field holding the gold answer (task files).")] = None,
    grader: Annotated[Optional[str], typer.Option("--grader", help="math, exact or code (task files).")] = None,
    calibration_size: Annotated[int, typer.Option("--calibration-size", help="Records that set the thresholds (train split, else held out).")] = defaults.EVAL_CALIBRATION_SIZE,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-n", help="Most tokens per answer.")] = defaults.EVAL_MAX_NEW_TOKENS,
    batch: Annotated[int, typer.Option("--batch", help="Prompts decoded together.")] = defaults.EVAL_BATCH,
    probe_tokens: Annotated[int, typer.Option("--probe-tokens", help="SLM tokens the query-level router reads.")] = defaults.EVAL_PROBE_TOKENS,
    router: RouterOpt = None,
    models: Annotated[PairFlags, LOCAL_MODELS],
    runner: RunnerOpt = defaults.RUNNER,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Evaluate SLM, LLM and routed methods at matched LLM shares; print a table, write pareto.png."""
    from ..evaluation import EvalConfig, Evaluation, render_report
    from ..evaluation.runner import base
    from ..evaluation.tasks import load_task
    from ..router import load_router

    if report:
        if task or out:
            raise R2RouteError("--report re-renders a run: give it alone (no --task/--out)")
        render_report(Path(report))
        return
    if not task or not out:
        raise R2RouteError("give --task and --out (or --report RUN_DIR)")
    cfg = EvalConfig(methods=tuple(m.strip() for m in methods.split(",") if m.strip()), shares=_floats(llm_shares, "--llm-shares"),
                     max_new_tokens=max_new_tokens, batch=batch, probe_tokens=probe_tokens, accept_margin=accept_margin, max_draft=max_draft,
                     runner=runner)
    cfg.validate()
    t = load_task(task, limit, calibration_size, data, prompt_field=prompt_field, answer_field=answer_field, grader=grader, first=first)
    if Path(out).exists() and not Path(out).is_dir():
        raise R2RouteError(f"--out {out} exists and is not a directory")
    pcfg = models.config()
    wants_router = any(base(m) == "neural" for m in cfg.methods)
    rpath = default_router(pcfg, "neural", router) if wants_router else None
    bundle = load_router(rpath) if rpath and rpath.lower() != "none" else None
    if wants_router and bundle is None:
        raise R2RouteError("method neural needs a router: --router PATH (or a pair with a shipped router)")
    mp = build_pair(pcfg)
    if bundle is not None:
        bundle.check_pair(mp.identity())
        bundle.model.to(mp.device)
    ev = Evaluation(mp, t, cfg, out, bundle, progress=not quiet)
    ev.run()
    render_report(Path(out))
