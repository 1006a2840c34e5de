"""From tokens to streamed text: per-model incremental decoding, then one text stream per request.

:class:`TokenReader` turns one model's appended tokens into text deltas. Byte-level tokenizers split
multi-byte characters across tokens, so text is released only once it no longer ends in a
replacement character; the tokens still holding an unfinished character are ``pending``.
:class:`TextStream` accumulates a request's text, ends it at a stop string, and holds back text that
could still become one.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"


class TokenReader:
    """Incremental detokenizer of one token sequence."""

    def __init__(self, tokenizer, context_ids: list[int]):
        self.tok = tokenizer
        self.ids: list[int] = list(context_ids[-4:])  # a little context: leading spaces decode right
        self.prefix = 0
        self.read = len(self.ids)
        self.last_text = ""  # the text the last add() completed
        self._before: str | None = None  # the text of ids[prefix:read], which changes only when they move

    def _decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def add(self, token: int) -> str:
        """Append one token; return the text that is now complete (may be empty)."""
        self.ids.append(token)
        if self._before is None:
            self._before = self._decode(self.ids[self.prefix : self.read])
        before = self._before
        after = self._decode(self.ids[self.prefix :])
        if len(after) > len(before) and not after.endswith(REPLACEMENT):
            self.prefix, self.read = self.read, len(self.ids)
            self._before = None
            self.last_text = after[len(before) :]
        else:
            self.last_text = ""
        return self.last_text

    @property
    def pending(self) -> int:
        """Trailing tokens whose text is not complete yet."""
        return len(self.ids) - self.read

    def flush(self) -> str:
        """Whatever is left (an unfinished character decodes as U+FFFD)."""
        if not self.pending:
            return ""
        before = self._decode(self.ids[self.prefix : self.read])
        out = self._decode(self.ids[self.prefix :])[len(before) :]
        self.prefix = self.read = len(self.ids)
        self._before = None
        return out


class TextStream:
    """A request's text: grows by deltas, stops at the first stop string, streams what is final."""

    def __init__(self, stop: tuple[str, ...] = ()):
        self.stop = tuple(s for s in stop if s)
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.text = ""  # all text so far (cut at the stop string once stopped)
        self.emitted = 0
        self.stopped = False

    def add(self, delta: str) -> str:
        """Append text; return what can be streamed now."""
        if self.stopped or not delta:
            return ""
        self.text += delta
        self._check_stop()
        end = len(self.text) if self.stopped else max(self.emitted, len(self.text) - self.hold)
        return self._release(end)

    def finish(self, tail: str = "") -> str:
        """Append a last piece and release everything."""
        if tail and not self.stopped:
            self.text += tail
            self._check_stop()
        return self._release(len(self.text))

    def _check_stop(self) -> None:
        if not self.stop:
            return
        start = max(0, self.emitted - self.hold)
        hits = [i for i in (self.text.find(s, start) for s in self.stop) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            self.stopped = True

    def _release(self, end: int) -> str:
        out = self.text[self.emitted : end]
        self.emitted = max(self.emitted, end)
        return out
