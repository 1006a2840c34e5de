"""What a model spec names: a Hugging Face hub id, a local directory, or a GGUF file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import R2RouteError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model location.

    kind: "hub" (an id like ``Qwen/Qwen2.5-1.5B-Instruct``), "dir" (a local
    ``save_pretrained`` directory) or "gguf" (a local ``.gguf`` file, loaded by transformers'
    GGUF support; ``hub_id::file.gguf`` names a GGUF file inside a hub repository).
    """

    kind: str
    location: str
    gguf_file: str | None = None
    tokenizer: str | None = None

    @property
    def name(self) -> str:
        """A short, stable name for reports and router pair identity."""
        if self.kind == "gguf":
            return f"{self.location}::{self.gguf_file}" if "/" in self.location and not Path(self.location).exists() else str(self.gguf_file)
        return Path(self.location).name if self.kind == "dir" else self.location


def parse_spec(text: str, tokenizer: str | None = None) -> ModelSpec:
    """Turn a user's ``--slm``/``--llm`` string into a :class:`ModelSpec`, or raise a one-line error."""
    text = text.strip()
    if not text:
        raise R2RouteError("empty model spec: give a hub id, a local directory or a .gguf file")
    if "::" in text:
        repo, _, fname = text.partition("::")
        return ModelSpec("gguf", repo, fname, tokenizer)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise R2RouteError(f"model file not found: {path}")
        return ModelSpec("gguf", str(path.parent.resolve()), path.name, tokenizer)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise R2RouteError(f"not a model directory (no config.json): {path}")
        return ModelSpec("dir", str(path.resolve()), None, tokenizer)
    if path.exists():
        raise R2RouteError(f"not a model directory or .gguf file: {path}")
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") != 1
    if looks_like_path or not _HUB_ID.match(text):
        raise R2RouteError(f"model not found: {text} (no such directory or file, and not a hub id like org/name)")
    return ModelSpec("hub", text, None, tokenizer)
