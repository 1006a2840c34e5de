"""Mixed decoding: ragged KV caches, the per-step routing loop, streaming text."""

from .engine import Engine, open_session
from ..pair.prompts import encode_messages, encode_prompt, render_messages
from .request import GenerationConfig, PairPrompt, Result, TokenEvent
from .session import DecodeSession
from .stats import BatchStats, RequestStats

__all__ = [
    "BatchStats", "DecodeSession", "Engine", "GenerationConfig", "PairPrompt", "RequestStats", "Result", "TokenEvent",
    "encode_messages", "encode_prompt", "render_messages",
]
