"""The router model, its files, and the routing strategies that use it."""

from .calibration import EntropyCalibration, load_calibration
from .io import RouterBundle, load_router, save_router
from .model import RouterConfig, RouterModel
from .shipped import shipped_calibration, shipped_router
from .strategies import STRATEGIES, Strategy, StepView, make_strategy

__all__ = [
    "STRATEGIES", "EntropyCalibration", "RouterBundle", "RouterConfig", "RouterModel", "StepView", "Strategy",
    "load_calibration", "load_router", "make_strategy", "save_router", "shipped_calibration", "shipped_router",
]
