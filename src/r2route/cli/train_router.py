"""`r2route train-router`: fit and calibrate a router on a label run, or run the paper's ablations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import defaults
from ..errors import R2RouteError
from .options import Only, PairFlags, flag_groups


@flag_groups
def train_router(
    *,
    labels: Annotated[str, typer.Option("--labels", help="A label run directory (`r2route label --out`).")],
    out: Annotated[str, typer.Option("--out", help="Where to write router.safetensors, router.json, metrics.json and plots.")],
    target_recall: Annotated[Optional[float], typer.Option("--target-recall", help=f"Calibrate the threshold for this recall of divergent validation tokens (default {defaults.ROUTER_TARGET_RECALL}).")] = None,
    target_llm_share: Annotated[Optional[float], typer.Option("--target-llm-share", help="Calibrate the threshold for this share of tokens sent to the LLM instead.")] = None,
    features: Annotated[str, typer.Option("--features", help="Router inputs, a subset of hidden,token,logits.")] = ",".join(defaults.ROUTER_FEATURES),
    objective: Annotated[str, typer.Option("--objective", help="Train on divergent labels (R2R) or on mismatches (ablation).")] = defaults.ROUTER_OBJECTIVE,
    ablation: Annotated[bool, typer.Option("--ablation", help="Also train the paper's ablations (feature sets, objective) and print their table.")] = False,
    width: Annotated[int, typer.Option("--width", help="Width of the residual MLP.")] = defaults.ROUTER_WIDTH,
    depth: Annotated[int, typer.Option("--depth", help="Residual blocks.")] = defaults.ROUTER_DEPTH,
    top_k: Annotated[int, typer.Option("--top-k", help="SLM log-probabilities the router reads (≤ what the labels store).")] = defaults.ROUTER_TOP_K,
    logits_ref: Annotated[str, typer.Option("--logits-ref", help="Top-k logits minus the log-sum-exp (log-probabilities, the paper's) or minus the max (no vocabulary-wide exp at decode time).")] = defaults.ROUTER_LOGITS_REF,
    epochs: Annotated[int, typer.Option("--epochs", help="Most epochs (training stops early on validation loss).")] = defaults.ROUTER_MAX_EPOCHS,
    patience: Annotated[int, typer.Option("--patience", help="Epochs without a better validation loss before stopping.")] = defaults.ROUTER_PATIENCE,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = defaults.ROUTER_LR,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Tokens per step.")] = defaults.ROUTER_BATCH,
    val_percent: Annotated[Optional[int], typer.Option("--val-percent", help="Re-split the labels by query with this share in validation (default: the labels' own split).")] = None,
    queries: Annotated[Optional[int], typer.Option("--queries", help="Use the labels of the first N queries only: the router as it would be with N queries labeled (a learning curve).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation and shuffling.")] = defaults.SEED,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Comma-separated seeds: one router each, saved as their mean-logit ensemble unless one seed beats it on validation (seeds.json has every seed's figures; seeds/seed-N/ each seed's router).")] = None,
    models: Annotated[PairFlags, Only("pair", "slm")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train a router on labels, calibrate its threshold on validation queries, and save it."""
    from ..pair import PairConfig, load_slm, tokenizer_fingerprint
    from ..router.model import FEATURES
    from ..training import TrainConfig, print_ablation, print_metrics, read_labels, run_ablations, train_router_run
    from ..training.run import check_targets

    check_targets(target_recall, target_llm_share)
    try:
        seed_list = tuple(int(x) for x in seeds.split(",") if x.strip()) if seeds else ()
    except ValueError:
        raise R2RouteError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    if seeds is not None and len(set(seed_list)) < 2:
        raise R2RouteError(f"--seeds needs two or more different seeds, got {seeds!r} (one seed: --seed)")
    feats = tuple(f.strip() for f in features.split(",") if f.strip())
    bad = [f for f in feats if f not in FEATURES]
    if bad or not feats:
        raise R2RouteError(f"--features must be a non-empty subset of {','.join(FEATURES)}, got {features!r}")
    cfg = TrainConfig(features=feats, objective=objective, width=width, depth=depth, top_k=top_k, logits_ref=logits_ref, max_epochs=epochs,
                      patience=patience, lr=lr, batch_size=batch_size, seed=seed)
    cfg.validate()
    if Path(out).exists() and not Path(out).is_dir():
        raise R2RouteError(f"--out {out} exists and is not a directory")
    ls = read_labels(labels, val_percent, queries)
    embed, embed_size = None, 0
    if "token" in feats or ablation:
        # the router is small: it trains on the CPU, where the labels are
        model = load_slm(PairConfig(pair=models.pair, slm=models.slm, device="cpu", dtype="float32"))
        mine = {"slm": model.name, "tokenizer": tokenizer_fingerprint(model.tokenizer)}
        theirs = {k: ls.pair.get(k) for k in mine}
        if mine != theirs:
            raise R2RouteError(f"the labels in {labels} were made with SLM {theirs['slm']} (tokenizer {theirs['tokenizer']}), "
                               f"not {mine['slm']} (tokenizer {mine['tokenizer']}): pass the labels' pair with --pair/--slm")
        embed, embed_size = model.embed, int(model.embed(ls.slm_token[:1]).shape[-1])
    metrics = train_router_run(ls, out, cfg, embed, embed_size, target_recall, target_llm_share, labels_path=str(labels),
                               progress=not quiet, seeds=seed_list)
    print_metrics(metrics)
    if ablation:
        print_ablation(run_ablations(ls, out, cfg, embed, embed_size, target_recall or defaults.ROUTER_TARGET_RECALL, progress=not quiet))
    print(f"router ({metrics['params']:,} parameters) -> {out}", file=sys.stderr)
