"""The outcome verifier's rules: when a branch has re-joined the reference, and whether two final
answers are the same.

At a mismatch the LLM continues greedily from the prefix plus the SLM's token to the end of the
answer (a branch). The mismatch is *divergent* when the branch's final answer differs from the
reference's (the LLM's own answer from the same prefix), *neutral* when they agree. Most branches
are reworded sentences that soon read exactly like the reference again; such a branch stops early
as neutral once its last ``n`` tokens appear in the reference *and* every number it wrote before
them is the number the reference wrote before the same text (same words after different numbers
is a different computation going on, not a re-join).
"""

from __future__ import annotations

import re

_NUM = re.compile(r"\d[\d,]*(?:\.\d+)?")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def numbers(text: str) -> list[str]:
    """The numbers of ``text`` in order, thousands separators and trailing decimal zeros dropped."""
    out = []
    for n in _NUM.findall(text):
        n = n.replace(",", "")
        out.append(n.rstrip("0").rstrip(".") if "." in n else n)
    return out


def rejoined(branch: str, tail: str, reference: str) -> bool:
    """Whether ``branch`` (text from the mismatch on), whose last tokens read ``tail``, has re-joined
    ``reference`` (the LLM's own text from the same position)."""
    if not tail.strip() or not any(c.isalnum() for c in tail) or not branch.endswith(tail):
        return False
    before = numbers(branch[: len(branch) - len(tail)])
    start = reference.find(tail)
    while start >= 0:
        if numbers(reference[:start]) == before:
            return True
        start = reference.find(tail, start + 1)
    return False


def final_answer(text: str) -> str | None:
    """The last ``\\boxed{…}`` of an answer (braces balanced), else its last number; None if neither."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if starts:
        i, depth = starts[-1], 1
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[i:j].strip()
    nums = numbers(text)
    return nums[-1] if nums else None


def same_answer(a: str | None, b: str | None) -> bool:
    """Equivalence of two final answers: math-verify's, else normalised text."""
    if a is None or b is None:
        return a is None and b is None

    def norm(s: str) -> str:
        return re.sub(r"\\[$%]|[$%\s]|\\text\{[^}]*\}|\\,|,", "", s).rstrip(".").lower()

    if norm(a) == norm(b):
        return True
    from math_verify import parse, verify

    try:
        pa, pb = parse(f"${norm(a)}$"), parse(f"${norm(b)}$")
        return bool(pa and pb and verify(pa, pb))
    except Exception:  # math-verify can raise on odd LaTeX: then only the text comparison counts
        return False
