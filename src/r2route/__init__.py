"""r2route: a small and a large language model write one answer together, token by token (R2R)."""

__version__ = "0.1.0"

from .engine import Engine, GenerationConfig, encode_prompt
from .errors import R2RouteError
from .pair import ModelPair, PairConfig, load_pair
from .router import RouterBundle, RouterConfig, RouterModel, load_router, make_strategy, save_router

__all__ = [
    "Engine", "GenerationConfig", "ModelPair", "PairConfig", "R2RouteError", "RouterBundle", "RouterConfig",
    "RouterModel", "encode_prompt", "load_pair", "load_router", "make_strategy", "save_router",
]
