"""Turning user text into prompt token ids, and the prompt as each model of a pair reads it."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import R2RouteError


def encode_prompt(tokenizer, text: str, chat: bool = True, system: str | None = None) -> list[int]:
    """Tokenize ``text``; with ``chat`` (and a chat template) as a user turn awaiting the reply."""
    if not text or not text.strip():
        raise R2RouteError("empty prompt")
    if chat and getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
        return encode_messages(tokenizer, messages)
    return list(tokenizer(text, add_special_tokens=True)["input_ids"])


def encode_messages(tokenizer, messages: list[dict]) -> list[int]:
    """Apply the chat template to a conversation, ready for the assistant's turn."""
    if not getattr(tokenizer, "chat_template", None):
        raise R2RouteError("this tokenizer has no chat template; use a plain prompt")
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    return list(ids)


def render_messages(tokenizer, messages: list[dict]) -> str:
    """The chat template's text for a conversation awaiting the assistant (for a remote LLM)."""
    if not getattr(tokenizer, "chat_template", None):
        raise R2RouteError("this tokenizer has no chat template; use a plain prompt")
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


@dataclass
class PairPrompt:
    """A prompt as each model reads it: token ids for the SLM, and for the LLM its own token ids
    (the same list under token handoff) or, for a remote LLM, the prompt text."""

    slm: list[int]
    llm: list[int] | str


def slm_length(prompt: list[int] | PairPrompt) -> int:
    """A prompt's length in SLM tokens (the space of every routing decision and of ``usage``)."""
    return len(prompt.slm) if isinstance(prompt, PairPrompt) else len(prompt)
