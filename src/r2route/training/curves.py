"""Scores → operating points: thresholds for a target recall or LLM share, curves and AUCs.

A *score* is higher for a token that should go to the LLM; a token is routed when its score is at
or above the threshold. Recall is the share of positive tokens routed, LLM share the share of all
tokens routed. Everything here is plain numpy over one validation set.
"""

from __future__ import annotations

import numpy as np

from ..errors import R2RouteError

SHARE_GRID = tuple(round(0.01 * i, 2) for i in range(1, 100))  # the curve a router file keeps
REPORT_SHARES = (0.05, 0.1, 0.15, 0.2, 0.3)


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if s.shape != y.shape or s.ndim != 1 or not len(s):
        raise R2RouteError("scores and labels must be non-empty vectors of one length")
    return s, y


def routed_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """LLM share, recall and precision when routing every score ≥ ``threshold``."""
    s, y = _check(scores, labels)
    routed = s >= threshold
    tp = int((routed & y).sum())
    return {
        "threshold": float(threshold),
        "llm_share": float(routed.mean()),
        "recall": tp / max(int(y.sum()), 1),
        "precision": tp / max(int(routed.sum()), 1),
    }


def threshold_for_recall(scores: np.ndarray, labels: np.ndarray, recall: float) -> float:
    """The highest threshold whose recall on these labels is at least ``recall`` (least LLM share)."""
    if not 0.0 < recall <= 1.0:
        raise R2RouteError(f"target recall must be in (0, 1], got {recall}")
    s, y = _check(scores, labels)
    pos = np.sort(s[y])[::-1]
    if not len(pos):
        raise R2RouteError("no positive labels to calibrate a recall on")
    k = int(np.ceil(recall * len(pos) - 1e-9))  # routing the k highest-scored positives reaches the target
    return float(pos[max(k, 1) - 1])


def threshold_for_share(scores: np.ndarray, share: float) -> float:
    """The threshold that routes a ``share`` of these scores (the lowest one not exceeding it)."""
    if not 0.0 <= share <= 1.0:
        raise R2RouteError(f"target LLM share must be in [0, 1], got {share}")
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    k = int(np.floor(share * len(s) + 1e-9))
    if k == 0:
        return float(np.nextafter(s[0], np.inf))  # above every score: routes nothing
    if k >= len(s):
        return float(s[-1])
    t = s[k - 1]
    # Ties at the cut would route more than asked; step above them then.
    return float(t if s[k] < t else np.nextafter(t, np.inf))


def share_curve(scores: np.ndarray, labels: np.ndarray, shares=SHARE_GRID) -> list[dict]:
    """Operating points at a grid of LLM shares: what a router file keeps for ``--llm-share``."""
    return [routed_at(scores, labels, threshold_for_share(scores, r)) for r in shares]


def recall_at_share(scores: np.ndarray, labels: np.ndarray, share: float) -> float:
    """Recall when routing the ``share`` highest-scored tokens (methods compared at equal positive rate)."""
    return routed_at(scores, labels, threshold_for_share(scores, share))["recall"]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U with average ranks for ties)."""
    s, y = _check(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average rank within each run of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct threshold, from the highest score down."""
    s, y = _check(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each tied run
    tp = np.cumsum(y)[last]
    routed = last + 1
    return tp / max(int(y.sum()), 1), tp / routed


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision: Σ (Δ recall) · precision over thresholds (no interpolation)."""
    recall, precision = pr_curve(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def summarize(scores: np.ndarray, labels: np.ndarray, target_recall: float | None = None) -> dict:
    """The figures a router or baseline score is compared by on one validation set."""
    out = {
        "roc_auc": roc_auc(scores, labels),
        "pr_auc": pr_auc(scores, labels),
        "positive_rate": float(np.mean(labels)),
        "recall_at_share": {str(r): recall_at_share(scores, labels, r) for r in REPORT_SHARES},
    }
    if target_recall is not None and np.any(labels):
        out["at_target_recall"] = routed_at(scores, labels, threshold_for_recall(scores, labels, target_recall))
    return out
