"""`train-router` end to end: labels → router → calibrated threshold → files, metrics and plots.

Every router is judged on the same validation tokens: the labels' validation split (by query),
rows whose divergent label is known. Its threshold is calibrated there for the target recall of
divergent tokens (or the target LLM share), and the full share curve is kept in ``router.json``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import defaults
from ..errors import R2RouteError
from ..fileio import atomic_write_json
from ..router.io import RouterBundle, save_router
from ..router.model import RouterEnsemble
from .curves import routed_at, share_curve, summarize, threshold_for_recall, threshold_for_share
from .labels import LabelSet
from .plots import plot_curves
from .trainer import TrainConfig, make_inputs, predict, router_config, train

SAVE_DTYPE = torch.float16
Embed = Callable[[torch.Tensor], torch.Tensor]


def check_targets(target_recall: float | None, target_share: float | None) -> None:
    if target_recall is not None and target_share is not None:
        raise R2RouteError("give --target-recall or --target-llm-share, not both")
    if target_recall is not None and not 0.0 < target_recall <= 1.0:
        raise R2RouteError(f"--target-recall must be in (0, 1], got {target_recall}")
    if target_share is not None and not 0.0 <= target_share <= 1.0:
        raise R2RouteError(f"--target-llm-share must be in [0, 1], got {target_share}")


def eval_rows(labels: LabelSet) -> tuple[np.ndarray, np.ndarray]:
    """(rows, y): validation rows with a known divergent label, and that label."""
    y, usable = labels.target("divergent")
    rows = usable & labels.is_val
    if not rows.any():
        raise R2RouteError("the validation split holds no labeled tokens: label more queries or raise --val-percent")
    if not y[rows].any():
        raise R2RouteError("no divergent tokens in the validation split: a recall cannot be calibrated (label more queries or raise --val-percent)")
    return rows, y[rows]


def baseline_scores(labels: LabelSet, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The paper's baselines as routing scores on ``rows``: SLM entropy and 1 − SLM max probability."""
    return {"entropy": labels.entropy[rows], "max_prob": labels.max_prob_score()[rows]}


def fit(labels: LabelSet, cfg: TrainConfig, embed: Embed | None, embed_size: int, progress: bool):
    """Train one router on the training split; returns (result, validation scores)."""
    cfg.validate()
    y, usable = labels.target(cfg.objective)
    tr = usable & ~labels.is_val
    if not tr.any():
        raise R2RouteError("the training split holds no labeled tokens: label more queries or lower --val-percent")
    va = usable & labels.is_val
    mcfg = router_config(labels, cfg, embed_size)
    res = train(mcfg, cfg, make_inputs(labels, tr, cfg.features, cfg.top_k, embed, cfg.logits_ref), y[tr],
                make_inputs(labels, va, cfg.features, cfg.top_k, embed, cfg.logits_ref), y[va], progress)
    # Routers are saved in float16: calibrate the weights that will be loaded, not their float32 originals.
    with torch.no_grad():
        for p in res.model.state_dict().values():
            p.copy_(p.to(SAVE_DTYPE).to(p.dtype))
    rows, _ = eval_rows(labels)
    scores = predict(res.model, make_inputs(labels, rows, cfg.features, cfg.top_k, embed, cfg.logits_ref), int(rows.sum()))
    return res, scores


def fit_seeds(labels: LabelSet, cfg: TrainConfig, embed: Embed | None, embed_size: int, seeds: tuple[int, ...], progress: bool):
    """Train one router per seed and their mean-logit ensemble; keep the ensemble unless a single
    seed beats it on validation (PR-AUC). Returns (result to save, its scores, the seeds' report,
    every seed's (result, scores))."""
    from dataclasses import replace

    rows, y_val = eval_rows(labels)
    fits = [fit(labels, replace(cfg, seed=s), embed, embed_size, progress) for s in seeds]
    ensemble = RouterEnsemble([res.model for res, _ in fits])
    scores = predict(ensemble, make_inputs(labels, rows, cfg.features, cfg.top_k, embed, cfg.logits_ref), int(rows.sum()))
    report = {"seeds": [{"seed": s, **summarize(sc, y_val)} for s, (_, sc) in zip(seeds, fits)], "ensemble": summarize(scores, y_val)}
    best = max(range(len(seeds)), key=lambda i: report["seeds"][i]["pr_auc"])
    if report["seeds"][best]["pr_auc"] > report["ensemble"]["pr_auc"]:
        report["chosen"] = f"seed {seeds[best]}"
        return fits[best][0], fits[best][1], report, fits
    report["chosen"] = "ensemble"
    res = fits[0][0]
    return type(res)(model=ensemble, history=res.history, best_epoch=res.best_epoch, pos_weight=res.pos_weight), scores, report, fits


def train_router_run(labels: LabelSet, out: str | Path, cfg: TrainConfig, embed: Embed | None, embed_size: int,
                     target_recall: float | None = None, target_share: float | None = None,
                     labels_path: str = "", progress: bool = True, seeds: tuple[int, ...] = ()) -> dict:
    """Train, calibrate and write ``router.safetensors``, ``router.json``, ``metrics.json`` and plots.

    The threshold is set for ``target_share`` if given, else for ``target_recall`` (default: the paper's 0.95).
    With two or more ``seeds``, one router is trained per seed and the saved router is their
    ensemble or the best seed (:func:`fit_seeds`); ``seeds.json`` holds every seed's figures, and
    each seed's router is saved, calibrated the same way, under ``seeds/seed-N/`` (so that
    `r2route eval --router` can show how far one seed moves the router end to end)."""
    check_targets(target_recall, target_share)
    report_recall = target_recall or defaults.ROUTER_TARGET_RECALL
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise R2RouteError(f"--out {out} exists and is not a directory")
    rows, y_val = eval_rows(labels)
    t0 = time.perf_counter()
    seed_report, seed_fits = None, []
    if len(seeds) > 1:
        res, scores, seed_report, seed_fits = fit_seeds(labels, cfg, embed, embed_size, seeds, progress)
    else:
        res, scores = fit(labels, cfg, embed, embed_size, progress)
    seconds = time.perf_counter() - t0

    def calibrate(sc: np.ndarray) -> float:
        return threshold_for_share(sc, target_share) if target_share is not None else threshold_for_recall(sc, y_val, report_recall)

    threshold = calibrate(scores)
    chosen = routed_at(scores, y_val, threshold)
    baselines = baseline_scores(labels, rows)
    y_train, usable = labels.target(cfg.objective)
    tr = usable & ~labels.is_val
    n_params = res.model.num_params()
    metrics = {
        "labels": labels_path,
        "label_queries": int(labels.query_id.max()) + 1,  # the labels of query ids below this were read
        "pair": labels.pair,
        "train": {"queries": int(len(np.unique(labels.query_id[tr]))), "tokens": int(tr.sum()),
                  "positives": int(y_train[tr].sum()), "objective": cfg.objective},
        "val": {"queries": int(len(np.unique(labels.query_id[rows]))), "tokens": int(rows.sum()),
                "divergent": int(y_val.sum())},
        "target": {"recall": report_recall} if target_share is None else {"llm_share": target_share},
        "threshold": chosen,
        "router": summarize(scores, y_val, report_recall),
        "baselines": {k: summarize(v, y_val, report_recall) for k, v in baselines.items()},
        "params": n_params,
        # multiply-adds per token ≈ weights touched once; compare with the SLM's ~2·P flops per token
        "flops_per_token": 2 * n_params,
        "training": {"config": _jsonable(asdict(cfg)), "best_epoch": res.best_epoch, "pos_weight": res.pos_weight,
                     "seconds": seconds, "history": res.history},
    }
    if seed_report is not None:
        metrics["seeds"] = seed_report
    save_router(_bundle(res.model, threshold, labels, scores, y_val,
                        {**{k: metrics[k] for k in ("train", "val", "target", "threshold", "params")},
                         "roc_auc": metrics["router"]["roc_auc"], "pr_auc": metrics["router"]["pr_auc"]}),
                out, dtype=SAVE_DTYPE)
    atomic_write_json(out / "metrics.json", metrics, sort_keys=False)
    if seed_report is not None:
        shutil.rmtree(out / "seeds", ignore_errors=True)  # an earlier run's other seeds are not these routers' peers
        for seed, (seed_res, seed_scores), figures in zip(seeds, seed_fits, seed_report["seeds"]):
            save_router(_bundle(seed_res.model, calibrate(seed_scores), labels, seed_scores, y_val,
                                {"seed": seed, "roc_auc": figures["roc_auc"], "pr_auc": figures["pr_auc"]}),
                        out / "seeds" / f"seed-{seed}", dtype=SAVE_DTYPE)
        atomic_write_json(out / "seeds.json", seed_report, sort_keys=False)
    title = f"{labels.pair.get('slm', '?')} → {labels.pair.get('llm', '?')}: {metrics['val']['tokens']} val tokens, {metrics['val']['divergent']} divergent"
    plot_curves({"router": scores, **baselines}, y_val, chosen, out, title)
    return metrics


ABLATIONS = (
    (("logits",), "divergent"),
    (("hidden",), "divergent"),
    (("hidden", "token"), "divergent"),
    (("hidden", "token", "logits"), "divergent"),
    (("hidden", "token", "logits"), "mismatch"),
)


def _bundle(model, threshold: float, labels: LabelSet, scores: np.ndarray, y_val: np.ndarray, metrics: dict) -> RouterBundle:
    """A router with its validation share curve, ready to save and to route with at any share."""
    return RouterBundle(model=model, threshold=threshold, pair=labels.pair, curve=share_curve(scores, y_val), metrics=metrics)


def ablation_name(features, objective: str) -> str:
    """Directory name of an ablation router, e.g. ``hidden+token+logits-mismatch``."""
    return f"{'+'.join(features)}-{objective}"


def run_ablations(labels: LabelSet, out: str | Path, base: TrainConfig, embed: Embed | None, embed_size: int,
                  target_recall: float = defaults.ROUTER_TARGET_RECALL, progress: bool = True) -> dict:
    """The paper's ablation table on one validation set: feature sets and the training objective,
    each reported as recall of divergent tokens at equal LLM shares. Writes ``ablation.json``, and
    each router (calibrated like the main one) to ``ablation/<features>-<objective>/`` so that
    `r2route eval --router` can compare them as accuracy at equal LLM share."""
    rows, y_val = eval_rows(labels)
    results = []
    for features, objective in ABLATIONS:
        cfg = TrainConfig(**{**asdict(base), "features": features, "objective": objective})
        res, scores = fit(labels, cfg, embed, embed_size, progress)
        summary = summarize(scores, y_val, target_recall)
        name = ablation_name(features, objective)
        save_router(_bundle(res.model, threshold_for_recall(scores, y_val, target_recall), labels, scores, y_val,
                            {"ablation": name, "roc_auc": summary["roc_auc"], "pr_auc": summary["pr_auc"]}),
                    Path(out) / "ablation" / name, dtype=SAVE_DTYPE)
        results.append({"features": list(features), "objective": objective, "router": f"ablation/{name}",
                        "params": res.model.num_params(), "best_epoch": res.best_epoch, **summary})
    for name, s in baseline_scores(labels, rows).items():
        results.append({"features": [name], "objective": "none (baseline)", **summarize(s, y_val, target_recall)})
    report = {"pair": labels.pair, "val_tokens": int(rows.sum()), "val_divergent": int(y_val.sum()), "rows": results}
    atomic_write_json(Path(out) / "ablation.json", report, sort_keys=False)
    return report


def _jsonable(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
