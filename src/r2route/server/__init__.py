"""OpenAI-compatible server over a routed pair."""

from .app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]
