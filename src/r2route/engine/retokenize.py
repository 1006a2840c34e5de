"""Re-tokenizing text, for the text handoff between models that do not share a vocabulary.

The text is the source of truth; each model keeps its own token sequence of it. A model's own
tokens are appended as it writes them. Text written by the *other* model is spliced in: a short
window at the end of the sequence is decoded, the new text appended, and the result re-tokenized,
so a routed piece can merge with the token before it (``hel`` + ``lo`` → ``hello``). Every splice
is checked by decoding the seam with a little context, which catches a multi-byte character split
across tokens and SentencePiece's leading-space rules. Where the check fails the window grows,
down to the whole generated text.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"


def decode(tok, ids: list[int]) -> str:
    """Exact text of ``ids`` (special tokens included, no clean-up)."""
    return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def encode(tok, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def incomplete_tail(tok, ids: list[int], start: int) -> int:
    """How many trailing tokens of ``ids[start:]`` hold an unfinished UTF-8 character (0–3)."""
    for n in range(0, min(4, len(ids) - start) + 1):
        if n == len(ids) - start:
            return n  # only partial bytes left
        if not decode(tok, ids[start : len(ids) - n]).endswith(REPLACEMENT):
            return n
    return 0


def splice(tok, ids: list[int], start: int, appended: str, window: int = 8, context: int = 2) -> tuple[list[int], bool]:
    """Token ids for ``text(ids) + appended``, re-tokenizing at most the generated part ``ids[start:]``.

    Returns the new ids and whether the seam check passed (False: the tokenizer could not
    reproduce the text, e.g. it normalises it; the whole generated text was re-tokenized).
    """
    if not appended:
        return list(ids), True
    n = len(ids)
    for k in range(max(start, n - window), start - 1, -1):
        c = max(0, k - context)
        head, full = decode(tok, ids[c:k]), decode(tok, ids[c:])
        if not full.startswith(head):  # k splits a character
            continue
        # The kept tail's text *in context*: decoding it alone can lose a leading space (SentencePiece).
        tail_text = full[len(head) :] + appended
        expect = full + appended
        for new in _candidates(tok, ids[c:k], tail_text):
            if decode(tok, ids[c:k] + new) == expect:
                return ids[:k] + new, True
    whole = decode(tok, ids[start:]) + appended
    return ids[:start] + encode(tok, whole), False


SENTINEL = "\n"


def _candidates(tok, anchor: list[int], tail_text: str):
    """Re-tokenizations of ``tail_text`` to try in turn: alone; after its anchor tokens' text; after
    a newline sentinel. The last two are for tokenizers (SentencePiece) that mark the first word
    of a string differently from a word in context; each is used only if the prefix's tokens
    come out unchanged, and then stripped."""
    yield encode(tok, tail_text)
    for prefix_ids, prefix_text in ((anchor, decode(tok, anchor)), (encode(tok, SENTINEL), SENTINEL)):
        if prefix_ids:
            both = encode(tok, prefix_text + tail_text)
            if both[: len(prefix_ids)] == prefix_ids:
                yield both[len(prefix_ids) :]


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix: how much of a KV cache survives a re-tokenization."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
