"""Mixed decoding: ragged KV caches, the per-step routing loop, streaming text."""

from .engine import Engine
from .prompts import encode_messages, encode_prompt
from .session import DecodeSession, GenerationConfig, Result, TokenEvent
from .stats import BatchStats, RequestStats

__all__ = [
    "BatchStats", "DecodeSession", "Engine", "GenerationConfig", "RequestStats", "Result", "TokenEvent",
    "encode_messages", "encode_prompt",
]
