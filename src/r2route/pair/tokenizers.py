"""Tokenizer identity: R2R's exact token handoff needs both models to share one vocabulary;
otherwise the pair hands text over (see engine.handoff and engine.retokenize)."""

from __future__ import annotations

import hashlib
import json


_SPECIAL_ROLES = ("bos_token", "eos_token", "pad_token", "unk_token")

# transformers' BPE tokenizer classes (Qwen2, Llama, GPT-2, ...) keep the vocabulary and merges they
# built their Rust tokenizer from as Python objects, and read them only in ``__init__``.
_INIT_COPIES = ("_vocab", "_merges")


def from_pretrained(location: str, **kwargs):
    """``AutoTokenizer.from_pretrained`` without the Python copies of the vocabulary and merges
    that only the constructor reads: for Qwen's 151,936 tokens they hold ~90 MiB of the ~140 MiB
    the tokenizer adds to RSS, 6% of the default pair's weights (docs/engine.md, "Caches")."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(location, **kwargs)
    for name in _INIT_COPIES:
        if isinstance(tok.__dict__.get(name), (dict, list)):
            setattr(tok, name, type(tok.__dict__[name])())
    return tok


def _special_map(tok) -> dict[str, str | None]:
    return {role: getattr(tok, role, None) for role in _SPECIAL_ROLES}


def tokenizer_fingerprint(tok) -> str:
    """A short hash of a tokenizer's vocabulary and special tokens; routers and labels record it."""
    payload = json.dumps([sorted(tok.get_vocab().items()), _special_map(tok)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def first_difference(a, b) -> str | None:
    """Describe the first difference between two tokenizers, or return None if they are identical."""
    va, vb = a.get_vocab(), b.get_vocab()
    ia = {i: t for t, i in va.items()}
    ib = {i: t for t, i in vb.items()}
    for i in range(max(len(ia), len(ib), max(ia, default=-1) + 1, max(ib, default=-1) + 1)):
        ta, tb = ia.get(i), ib.get(i)
        if ta != tb:
            return f"token id {i} is {ta!r} in the SLM's vocabulary but {tb!r} in the LLM's (sizes {len(va)} vs {len(vb)})"
    sa, sb = _special_map(a), _special_map(b)
    for role in _SPECIAL_ROLES:
        if sa[role] != sb[role]:
            return f"{role} is {sa[role]!r} for the SLM but {sb[role]!r} for the LLM"
    return None
