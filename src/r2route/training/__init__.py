"""Router training: read labels, fit the router, calibrate its threshold, report and ablate."""

from .curves import pr_auc, roc_auc, routed_at, threshold_for_recall, threshold_for_share
from .labels import LabelSet, read_labels
from .report import print_ablation, print_metrics
from .run import run_ablations, train_router_run
from .trainer import TrainConfig

__all__ = [
    "LabelSet", "TrainConfig", "pr_auc", "print_ablation", "print_metrics", "read_labels", "roc_auc", "routed_at",
    "run_ablations", "threshold_for_recall", "threshold_for_share", "train_router_run",
]
