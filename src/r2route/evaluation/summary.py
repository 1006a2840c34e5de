"""Per method and share: accuracy (95% bootstrap interval), measured LLM share, average activated
parameters, speed; per method, RouteLLM's summary figures (APGR, share needed for 50%/80% of the gap)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .. import defaults


def bootstrap_ci(correct: np.ndarray, n: int = defaults.EVAL_BOOTSTRAP, seed: int = defaults.SEED) -> tuple[float, float]:
    """95% percentile interval of the mean of per-record outcomes (0/1, or −1/0/1 differences)."""
    if not len(correct):
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, len(correct), size=(n, len(correct)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def compare(rows: list[dict], ids: set[int] | None = None, method: str = "neural") -> list[dict]:
    """``method`` against every other routed method at each target share both ran, on the records both
    finished (of ``ids``, if given): accuracy difference with its paired 95% interval, and the records
    only one of the two got right."""
    by = defaultdict(dict)
    for r in rows:
        if r["share"] is not None and (ids is None or r["id"] in ids):
            by[(r["method"], r["share"])][r["id"]] = r["correct"]
    out = []
    for (other, share) in sorted(k for k in by if k[0] != method):
        mine = by.get((method, share))
        common = sorted(set(mine or ()) & set(by[(other, share)]))
        if not common:
            continue
        a = np.array([mine[i] for i in common], dtype=float)
        b = np.array([by[(other, share)][i] for i in common], dtype=float)
        # Resampling records jointly: two methods that fail on the same hard records differ far less
        # than their own intervals say.
        lo, hi = bootstrap_ci(a - b)
        out.append({"method": method, "versus": other, "target_share": share, "n": len(common),
                    "difference": float((a - b).mean()), "ci95": [lo, hi],
                    "only_method_right": int(((a == 1) & (b == 0)).sum()), "only_versus_right": int(((a == 0) & (b == 1)).sum())})
    return out


def tokens_per_s(rows: list[dict]) -> float:
    """Output tokens per second of decoding, pooled over rows (each row's `wall` is its share of its batch's time)."""
    wall = sum(r["wall"] for r in rows)
    return sum(r["tokens"] for r in rows) / wall if wall else 0.0


def point(rows: list[dict], slm_params: int, llm_params: int) -> dict:
    c = np.array([r["correct"] for r in rows], dtype=float)
    tokens = sum(r["tokens"] for r in rows)
    llm = sum(r["llm_tokens"] for r in rows)
    lo, hi = bootstrap_ci(c)
    costs = {}
    if all("llm_calls" in r for r in rows) and tokens:  # result files may hold rows written without these counts
        costs = {"llm_calls_per_token": sum(r["llm_calls"] for r in rows) / tokens,
                 "wasted_per_token": sum(r["wasted_slm_tokens"] for r in rows) / tokens}
    return {
        **costs,
        "n": len(rows), "accuracy": float(c.mean()), "ci95": [lo, hi],
        "llm_share": llm / tokens if tokens else 0.0,
        "avg_params": ((tokens - llm) * slm_params + llm * llm_params) / tokens if tokens else 0.0,
        "tokens_per_s": tokens_per_s(rows),
        "latency_s": float(np.mean([r["seconds"] for r in rows])),
        "output_tokens": tokens / len(rows),
    }


def _curve(points: list[dict], slm: dict, llm: dict) -> list[tuple[float, float]]:
    """(measured share, accuracy) from the SLM at 0 to the LLM at 1, sorted by share."""
    inner = sorted((p["llm_share"], p["accuracy"]) for p in points)
    return [(0.0, slm["accuracy"])] + inner + [(1.0, llm["accuracy"])]


def apgr(points: list[dict], slm: dict, llm: dict) -> float | None:
    """Average performance gap recovered: the area under PGR(share) = (acc − slm)/(llm − slm), share in [0, 1]."""
    gap = llm["accuracy"] - slm["accuracy"]
    if abs(gap) < 1e-12:
        return None
    xs, ys = zip(*_curve(points, slm, llm))
    pgr = (np.array(ys) - slm["accuracy"]) / gap
    return float(np.trapezoid(pgr, xs) if hasattr(np, "trapezoid") else np.trapz(pgr, xs))


def share_to_recover(points: list[dict], slm: dict, llm: dict, fraction: float) -> float | None:
    """The least LLM share (linear between measured points) at which accuracy reaches slm + fraction·gap."""
    gap = llm["accuracy"] - slm["accuracy"]
    if gap <= 0:
        return None
    target = slm["accuracy"] + fraction * gap
    curve = _curve(points, slm, llm)
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if y1 >= target:
            if y0 >= target:
                return x0
            return x0 + (x1 - x0) * (target - y0) / (y1 - y0)
    return None


def same_as_llm(rows: list[dict], llm: dict[int, str]) -> int:
    """How many of ``rows`` have the LLM alone's completion of their record (``llm``: id → text),
    character for character. Verified decoding at margin 0 should give all of them; on quantized
    llama.cpp weights it does only with batch-invariant sums (see docs/engine.md, "Determinism and batch invariance on llama.cpp")."""
    return sum(r["id"] in llm and r.get("completion") is not None and r.get("completion") == llm[r["id"]] for r in rows)


def summarize(rows: list[dict], slm_params: int, llm_params: int, ids: set[int] | None = None) -> dict:
    """``{"points": [...], "methods": {...}}`` over rows of the given record ids (all by default).

    Points are computed on the records every unit has finished, so a half-done unit never skews a
    curve; a paired comparison needs only its two units, so it uses every record both finished."""
    by_unit: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by_unit[(r["method"], r["share"])].append(r)
    pair_ids = ids
    if ids is None:
        sets = [{r["id"] for r in v} for v in by_unit.values()]
        ids = set.intersection(*sets) if sets else set()
    llm = {r["id"]: r.get("completion") for r in by_unit.get(("llm", None), ()) if r["id"] in ids}
    points = []
    for (method, share), rs in sorted(by_unit.items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1])):
        rs = [r for r in rs if r["id"] in ids]
        if rs:
            points.append({"method": method, "target_share": share, **point(rs, slm_params, llm_params)}
                          | ({"same_as_llm": same_as_llm(rs, llm)} if llm else {}))
    ref = {p["method"]: p for p in points if p["target_share"] is None}
    methods = {}
    if "slm" in ref and "llm" in ref:
        for m in sorted({p["method"] for p in points if p["target_share"] is not None}):
            pts = [p for p in points if p["method"] == m]
            methods[m] = {"apgr": apgr(pts, ref["slm"], ref["llm"]),
                          "share_for_50pct_gap": share_to_recover(pts, ref["slm"], ref["llm"], 0.5),
                          "share_for_80pct_gap": share_to_recover(pts, ref["slm"], ref["llm"], 0.8)}
    return {"records": len(ids), "points": points, "methods": methods, "paired": compare(rows, pair_ids)}
