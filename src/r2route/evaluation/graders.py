"""Graders: is a completion right? ``math`` (math-verify), ``exact`` (normalised string), ``code``
(HumanEval: execute the completion against the task's tests in the sandbox)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

from .. import defaults
from ..errors import R2RouteError
from .sandbox import run_python

GRADERS = ("math", "exact", "code")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` (or ``\\fbox{…}``), braces balanced; None if absent."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    i, depth = starts[-1], 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def gsm8k_gold(answer: str) -> str:
    """GSM8K's final answer: what follows ``####``, without thousands separators."""
    if "####" not in answer:
        raise R2RouteError("a GSM8K answer without '#### N'")
    return answer.split("####")[-1].strip().replace(",", "")


class Grader(ABC):
    name = ""

    @abstractmethod
    def grade(self, completion: str, record: dict) -> dict:
        """``{"correct": bool, "extracted": str | None, ...}`` for one completion of ``record``."""


class MathGrader(Grader):
    """Symbolic/numeric equivalence by math-verify: the completion's last \\boxed{} (else its last
    expression) against the gold answer, so 1,234 = 1234, \\frac12 = 0.5, \\boxed{\\$18} = 18."""

    name = "math"

    def grade(self, completion: str, record: dict) -> dict:
        from math_verify import parse, verify

        gold = str(record["gold"])
        boxed = last_boxed(completion)
        target = f"\\boxed{{{boxed}}}" if boxed is not None else completion
        try:
            g = parse(f"${gold}$") or parse(gold)
            p = parse(target.replace("{,}", ""))  # "1{,}234" is how some models write a thousands comma
            ok = bool(g and p and verify(g, p))
            if not ok and boxed is not None:  # math-verify misses commas in plain numbers inside \boxed
                plain = boxed.replace(",", "").replace("\\$", "").replace("$", "").strip()
                p2 = parse(f"${plain}$")
                ok = bool(g and p2 and verify(g, p2))
        except Exception:  # math-verify can raise on odd LaTeX; that completion is simply wrong
            ok = False
        return {"correct": ok, "extracted": boxed}


def _norm(s: str) -> str:
    return " ".join(s.strip().lower().split()).rstrip(".")


class ExactGrader(Grader):
    """Normalised string equality of the last \\boxed{} (else the last non-empty line) and the gold."""

    name = "exact"

    def grade(self, completion: str, record: dict) -> dict:
        boxed = last_boxed(completion)
        lines = [ln for ln in completion.strip().splitlines() if ln.strip()]
        got = boxed if boxed is not None else (lines[-1] if lines else "")
        return {"correct": _norm(got) == _norm(str(record["gold"])), "extracted": got}


def extract_code(completion: str, record: dict) -> str:
    """The program to test: the last fenced code block (else the whole completion); if it does not
    define the entry point it is taken as the function's body and appended to the task's prompt."""
    blocks = re.findall(r"```(?:python|py)?\s*\n(.*?)```", completion, flags=re.S)
    if not blocks:  # an unclosed block at the token limit
        m = re.search(r"```(?:python|py)?\s*\n(.*)$", completion, flags=re.S)
        blocks = [m.group(1)] if m else []
    code = blocks[-1] if blocks else completion
    entry = record.get("entry_point", "")
    prompt = record.get("prompt_code", "")
    if entry and re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, flags=re.M):
        # keep the prompt's imports and helpers: the completion often repeats only the function
        return prompt + "\n\n" + code if prompt else code
    return prompt + code


class CodeGrader(Grader):
    """HumanEval pass@1: the completion plus the task's ``test`` and ``check(entry_point)``, executed."""

    name = "code"

    def __init__(self, timeout: float = defaults.EVAL_CODE_TIMEOUT):
        self.timeout = timeout

    def grade(self, completion: str, record: dict) -> dict:
        program = extract_code(completion, record) + "\n\n" + record["test"] + f"\n\ncheck({record['entry_point']})\n"
        res = run_python(program, timeout=self.timeout)
        return {"correct": res.passed, "extracted": None, "status": res.status, "detail": res.detail}


def make_grader(name: str) -> Grader:
    if name not in GRADERS:
        raise R2RouteError(f"unknown grader: {name} (use {', '.join(GRADERS)})")
    return {"math": MathGrader, "exact": ExactGrader, "code": CodeGrader}[name]()
