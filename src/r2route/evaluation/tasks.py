"""Evaluation tasks: records with a prompt and a gold answer, their grader, and a calibration slice.

Built in, read from ``../shared/data`` (``--data`` overrides the file): ``gsm8k`` (test; calibrates
on the last records of train, far from the first ones that labeling uses), ``math500`` and
``humaneval`` (test only; calibrate on records at the end of the file, never evaluated in the same
run). A user task is a JSONL file with ``--prompt-field``,
``--answer-field`` and ``--grader``.

Prompts use the chat template. Math tasks add the system instruction MATH_SYSTEM (the one the
router's labels were made with); HumanEval asks for the whole function in one code block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import defaults
from ..errors import R2RouteError
from ..labeling.data import read_jsonl
from .graders import GRADERS, gsm8k_gold

MATH_SYSTEM = defaults.MATH_SYSTEM
CODE_INSTRUCTION = (
    "Complete the following Python function. Reply with the whole function, imports included, "
    "in one ```python code block.\n\n```python\n{prompt}```"
)
TASKS = ("gsm8k", "math500", "humaneval")
def default_data_dir() -> Path:
    """``../shared/data`` from the working directory, else from this source checkout."""
    here = Path("..") / "shared" / "data"
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


@dataclass
class Record:
    """One evaluated query: ``id`` is its index in the data file."""

    id: int
    prompt: str
    gold: dict  # what the grader reads besides the completion ("gold", or HumanEval's test fields)


@dataclass
class Task:
    name: str
    grader: str
    records: list[Record]  # evaluated, in file order
    calibration: list[Record]  # disjoint from ``records``
    system: str | None = None
    source: dict = field(default_factory=dict)


def _field(row: tuple[int, dict], name: str, path: Path):
    lineno, rec = row
    if name not in rec:
        raise R2RouteError(f"{path}:{lineno}: no field {name!r} (fields: {', '.join(sorted(rec)) or 'none'})")
    return rec[name]


def _records(rows: list[tuple[int, dict]], path: Path, prompt_field: str, gold_fn) -> list[Record]:
    return [Record(i, str(_field(r, prompt_field, path)), gold_fn(r)) for i, r in enumerate(rows)]


def load_task(task: str, limit: int | None = None, calibration_size: int = 32, data: str | None = None,
              data_dir: str | Path | None = None, prompt_field: str | None = None, answer_field: str | None = None,
              grader: str | None = None, first: int = 0) -> Task:
    """Load ``task`` (a built-in name or a JSONL path); any problem is one clear line. ``first``:
    the index of the first record evaluated (records keep their file index as id); ``limit``: how
    many from there."""
    if limit is not None and limit < 1:
        raise R2RouteError(f"--limit must be ≥ 1, got {limit}")
    if first < 0:
        raise R2RouteError(f"--first must be ≥ 0, got {first}")
    if calibration_size < 1:
        raise R2RouteError(f"--calibration-size must be ≥ 1, got {calibration_size}")
    root = Path(data_dir) if data_dir else default_data_dir()
    is_file = task.endswith(".jsonl") or Path(task).is_file()
    if not is_file and task not in TASKS:
        raise R2RouteError(f"unknown task: {task} (use {', '.join(TASKS)} or a .jsonl file)")
    if grader is not None and grader not in GRADERS:
        raise R2RouteError(f"unknown grader: {grader} (use {', '.join(GRADERS)})")
    cal_rows: list[Record] | None = None
    if task == "gsm8k":
        path = Path(data) if data else root / "gsm8k" / "test.jsonl"
        pf, af = prompt_field or "question", answer_field or "answer"
        def gold(r):
            try:
                return {"gold": gsm8k_gold(str(_field(r, af, path)))}
            except R2RouteError as e:
                raise R2RouteError(f"{path}:{r[0]}: {e}") from None

        recs = _records(read_jsonl(path), path, pf, gold)
        train = path.parent / "train.jsonl"
        if train.is_file() and not data:
            # The train split's *last* records: the router's labels come from its first ones, and a
            # router scores the queries it was trained on more confidently than new ones.
            rows = read_jsonl(train)
            cal_rows = _records(rows, train, pf, gold)[-calibration_size:]
        name, grade, system = "gsm8k", grader or "math", MATH_SYSTEM
    elif task == "math500":
        path = Path(data) if data else root / "math500" / "test.jsonl"
        pf, af = prompt_field or "problem", answer_field or "answer"
        recs = _records(read_jsonl(path), path, pf, lambda r: {"gold": str(_field(r, af, path))})
        name, grade, system = "math500", grader or "math", MATH_SYSTEM
    elif task == "humaneval":
        path = Path(data) if data else root / "humaneval" / "test.jsonl"
        recs = []
        for i, r in enumerate(read_jsonl(path)):
            code = str(_field(r, prompt_field or "prompt", path))
            recs.append(Record(i, CODE_INSTRUCTION.replace("{prompt}", code), {
                "prompt_code": code, "test": _field(r, "test", path), "entry_point": _field(r, "entry_point", path),
                "task_id": r[1].get("task_id", str(i))}))
        name, grade, system = "humaneval", grader or "code", None
    else:
        path = Path(task)
        if not prompt_field or not answer_field or not grader:
            raise R2RouteError("a task file needs --prompt-field, --answer-field and --grader")
        recs = _records(read_jsonl(path), path, prompt_field, lambda r: {"gold": str(_field(r, answer_field, path))})
        name, grade, system = path.stem, grader, MATH_SYSTEM if grader == "math" else None
    if cal_rows is None:
        # No train split: calibrate on the file's last records and never evaluate them.
        if len(recs) <= calibration_size:
            raise R2RouteError(f"{path} has {len(recs)} records: too few to hold out {calibration_size} for calibration (lower --calibration-size)")
        cal_rows, recs = recs[-calibration_size:], recs[:-calibration_size]
    if first >= len(recs):
        raise R2RouteError(f"--first {first}: {path} has {len(recs)} records to evaluate")
    recs = recs[first:]
    if limit is not None:
        recs = recs[:limit]
    source = {"file": str(path.resolve()), "calibration": "train split, last records" if task == "gsm8k" and not data else "held-out tail"}
    if first:  # a run directory holds one range of records (runs made from record 0 keep their signature)
        source["first"] = first
    return Task(name=name, grader=grade, records=recs, calibration=cal_rows, system=system, source=source)


def task_signature(t: Task) -> str:
    """What must stay the same for a resumed evaluation run."""
    return json.dumps({"name": t.name, "grader": t.grader, "system": t.system, "source": t.source}, sort_keys=True)
