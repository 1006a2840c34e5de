"""The router model, its files, and the routing strategies that use it."""

from .io import RouterBundle, load_router, save_router
from .model import RouterConfig, RouterModel
from .strategies import STRATEGIES, Strategy, StepView, make_strategy

__all__ = [
    "STRATEGIES", "RouterBundle", "RouterConfig", "RouterModel", "StepView", "Strategy",
    "load_router", "make_strategy", "save_router",
]
