"""Where the current sentence ends, over the text that tokens produce.

The rule (documented in docs/labeling.md), applied to the text from the token at a mismatch on:
- a newline ends the sentence (it is not part of it);
- the search starts at the first non-whitespace character, so a continuation that begins with
  a line break runs to the end of the next line;
- ``.``, ``!`` and ``?`` end it when followed by whitespace (so ``3.5`` and ``e.g.x`` do not; a
  ``.`` at the very end waits for the next token);
- the CJK ``。！？`` end it at once (no space follows them);
- ``</think>`` (the end of a reasoning block) ends it;
- the end of the answer ends it; generation also stops after a token cap (the caller's).
The sentence includes its terminator.
"""

from __future__ import annotations

import re

_END = re.compile(r"\n|[.!?](?=\s)|[。！？]|</think>")


def sentence_end(text: str, final: bool) -> int | None:
    """Length of the first sentence of ``text``, or None while more text could still change it.

    ``final`` says no more text will come (the answer ended or the token cap was hit): then the
    whole text is the sentence when no end is found.
    """
    lead = len(text) - len(text.lstrip())
    m = _END.search(text, lead)
    if m is not None:
        return m.start() if m.group() == "\n" else m.end()
    if final:
        return len(text)
    return None


def cut_sentence(text: str, final: bool = True) -> str:
    """The first sentence of ``text`` (all of it when no end is found and ``final``)."""
    end = sentence_end(text, final)
    return text if end is None else text[:end]


def ends_sentence(text: str) -> bool:
    """Whether generation may stop: a sentence end is already certain."""
    return sentence_end(text, final=False) is not None


def context_tail(text: str, sentences: int = 1, max_chars: int = 400) -> str:
    """The unfinished sentence at the end of ``text`` and the ``sentences`` before it (at most
    ``max_chars``, cut at a word): the short context a verifier reads."""
    ends = [m.end() for m in _END.finditer(text) if m.end() < len(text)]
    start = ends[-1 - sentences] if len(ends) > sentences else 0
    tail = text[start:].lstrip()
    if len(tail) > max_chars:
        tail = tail[-max_chars:]
        tail = tail[tail.find(" ") + 1 :] if " " in tail else tail
    return tail
