"""Imports of packages that only one feature needs, each declared in an extra of pyproject.toml.

Every import of an optional package goes through :func:`require`, so a missing one is a one-line
error that names the extra to install, never a ``ModuleNotFoundError`` traceback. A test
(``tests/test_dependencies.py``) reads every import in the package: a plain import must be of a
base dependency, a ``require(module, extra)`` of a package that ``extra`` declares.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import R2RouteError


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` (dotted names allowed); if it is missing, say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        what = feature or f"this feature needs the {top} package"
        raise R2RouteError(f"{what}: pip install 'r2route[{extra}]'") from None
