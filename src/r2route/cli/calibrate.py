"""`r2route calibrate`: SLM entropy's and several routers' thresholds from one calibration pass."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import defaults
from ..errors import R2RouteError
from .options import (CALIBRATION_TASK, BatchOpt, EvalMaxNewOpt, LOCAL_MODELS, PairFlags, QuietOpt, RunnerOpt, SharesOpt, TaskFlags,
                      build_pair, flag_groups, floats)


@flag_groups
def calibrate(
    *,
    records: Annotated[TaskFlags, CALIBRATION_TASK],
    out: Annotated[str, typer.Option("--out", help="The calibration file (JSON); a rerun adds the routers it lacks and keeps the rest.")],
    routers: Annotated[list[str], typer.Option("--router", help="A router directory; repeat for several (all are recorded in one pass).")] = [],  # noqa: B006 (typer's list default)
    llm_shares: SharesOpt = ",".join(map(str, defaults.EVAL_LLM_SHARES)),
    max_new_tokens: EvalMaxNewOpt = defaults.EVAL_MAX_NEW_TOKENS,
    batch: BatchOpt = defaults.EVAL_BATCH,
    models: Annotated[PairFlags, LOCAL_MODELS],
    runner: RunnerOpt = defaults.RUNNER,
    quiet: QuietOpt = False,
) -> None:
    """Decode the calibration records with the SLM once, recording SLM entropy and every --router;
    write each one's threshold per target LLM share, for `r2route eval --calibration` (and entropy's
    for `--calibration` of `generate`, `chat` and `serve`)."""
    from rich.console import Console
    from rich.table import Table

    from ..evaluation.runner import EvalConfig, eval_engine
    from ..evaluation.shared_calibration import SharedCalibration, calibration_key, scorer_name
    from ..router import load_router

    cfg = EvalConfig(methods=("entropy",), shares=floats(llm_shares, "--llm-shares"), max_new_tokens=max_new_tokens, batch=batch,
                     runner=runner)
    cfg.validate()
    task = records.load()
    if Path(out).is_dir():
        raise R2RouteError(f"--out {out} is a directory: give the calibration file's path")
    bundles = {r: load_router(r) for r in dict.fromkeys(routers)}
    pair = build_pair(models.config())
    for b in bundles.values():
        b.check_pair(pair.identity())
        b.model.to(pair.device)
    shared = SharedCalibration(out, calibration_key(pair, task, max_new_tokens, runner))
    shares = list(cfg.shares)
    todo = {label: b for label, b in bundles.items() if shared.missing([scorer_name(b)], shares)}
    if todo or shared.missing(["entropy"], shares):
        engine = eval_engine(pair, batch, runner)
        prompts = [pair.encode(r.prompt, system=task.system) for r in task.calibration]
        shared.record(engine, prompts, todo, shares, max_new_tokens, progress=not quiet)
    # one row per share, one column per scorer: a fine grid of shares stays readable
    scorers = [("SLM entropy", "entropy")] + [(label, scorer_name(b)) for label, b in bundles.items()]
    th = {label: shared.thresholds(name, shares, label) for label, name in scorers}
    table = Table("LLM share", *(f"threshold: {label}" for label, _ in scorers),
                  title=f"{out}: {len(task.calibration)} records, {shared.data['tokens']} SLM tokens")
    for s in shares:
        table.add_row(f"{s:g}", *(f"{th[label][str(s)]:.4f}" for label, _ in scorers))
    Console().print(table)
