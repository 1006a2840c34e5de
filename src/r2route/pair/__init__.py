"""Pairs of causal LMs: loading, presets, tokenizer identity."""

from .loading import LoadedModel, load_model, load_tokenizer
from .pair import ModelPair, PairConfig, load_pair, load_slm
from .params import ParamCount, count_params
from .specs import ModelSpec, parse_spec
from .tokenizers import first_difference, tokenizer_fingerprint

__all__ = [
    "LoadedModel", "ModelPair", "ModelSpec", "PairConfig", "ParamCount",
    "count_params", "first_difference", "load_model", "load_tokenizer", "load_pair", "load_slm", "parse_spec", "tokenizer_fingerprint",
]
