"""OpenAI-compatible request bodies, validated; anything unknown to us is ignored as OpenAI does."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RoutingOverride(BaseModel):
    """The ``r2route`` extension field: per-request routing (send it with the client's ``extra_body``)."""

    model_config = ConfigDict(extra="forbid")
    strategy: Optional[str] = None
    threshold: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    llm_share: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    verify: Optional[Literal["none", "all"]] = None
    accept_margin: Optional[float] = Field(default=None, ge=0.0)
    max_draft: Optional[int] = Field(default=None, ge=1)


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    max_tokens: Optional[int] = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: Optional[int] = None
    stop: Union[str, list[str], None] = None
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    n: int = Field(default=1, ge=1, le=1)
    r2route: Optional[RoutingOverride] = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v):
        stops = [v] if isinstance(v, str) else list(v or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        return stops

    def stop_list(self) -> tuple[str, ...]:
        return tuple(s for s in (self.stop or []) if s)


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: Union[str, list[TextPart]]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)

    def limit(self) -> Optional[int]:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Common):
    prompt: Union[str, list[str], list[int]]
    echo: bool = False
    logprobs: Optional[int] = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v):
        if isinstance(v, list) and v and isinstance(v[0], str):
            if len(v) != 1:
                raise ValueError("one prompt per request (n = 1)")
            v = v[0]
        if isinstance(v, str) and not v:
            raise ValueError("prompt is empty")
        if isinstance(v, list) and not v:
            raise ValueError("prompt is empty")
        return v

    def limit(self) -> Optional[int]:
        return self.max_tokens
