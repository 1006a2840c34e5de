"""Graders on known right and wrong answers, and the HumanEval executor's containment."""

import time

import pytest

from r2route.evaluation.graders import CodeGrader, ExactGrader, MathGrader, extract_code, gsm8k_gold, last_boxed
from r2route.evaluation.sandbox import run_python


@pytest.mark.parametrize("completion, gold, ok", [
    ("So she sold 48 + 24 = 72 clips. \\boxed{72}", "72", True),
    ("\\boxed{73}", "72", False),
    ("The total is \\boxed{1,234} dollars", "1234", True),
    ("The total is \\boxed{1{,}234}", "1234", True),
    ("\\boxed{\\$18}", "18", True),
    ("\\boxed{18.00}", "18", True),
    ("\\boxed{\\frac{1}{2}}", "0.5", True),
    ("\\boxed{\\dfrac{3}{4}}", "\\frac{3}{4}", True),
    ("\\boxed{0.75}", "\\frac{3}{4}", True),
    ("First \\boxed{5}, no wait, \\boxed{7}", "7", True),
    ("First \\boxed{7}, no wait, \\boxed{5}", "7", False),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("\\boxed{x^2+2x+1}", "(x+1)^2", True),
    ("The answer is 72.", "72", True),  # no box: the last expression
    ("", "72", False),
    ("\\boxed{", "72", False),
])
def test_math_grader(completion, gold, ok):
    assert MathGrader().grade(completion, {"gold": gold})["correct"] is ok


def test_gsm8k_gold_and_boxed_extraction():
    assert gsm8k_gold("Natalia sold 48/2 = 24 clips.\n#### 1,072") == "1072"
    assert last_boxed("a \\boxed{\\frac{1}{2}} b \\boxed{x_{1}}") == "x_{1}"
    assert last_boxed("no box") is None


def test_exact_grader():
    g = ExactGrader()
    assert g.grade("I think\n\\boxed{Paris}", {"gold": "paris"})["correct"]
    assert g.grade("Answer:\nParis.", {"gold": "Paris"})["correct"]
    assert not g.grade("\\boxed{London}", {"gold": "Paris"})["correct"]


TASK = {
    "prompt_code": "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n",
    "test": "def check(f):\n    assert f(2, 3) == 5\n    assert f(-1, 1) == 0\n",
    "entry_point": "add",
}


@pytest.mark.parametrize("completion, status", [
    ("```python\ndef add(a, b):\n    return a + b\n```", "passed"),
    ("    return a + b\n", "passed"),  # a bare body completes the prompt
    ("Here you go:\n```python\ndef add(a, b):\n    return a - b\n```", "failed"),
    ("```python\ndef add(a, b):\n    while True:\n        pass\n```", "timeout"),
    ("```python\nimport socket\ndef add(a, b):\n    socket.create_connection(('127.0.0.1', 9))\n    return a + b\n```", "blocked"),
    ("```python\nimport subprocess\ndef add(a, b):\n    subprocess.run(['true'])\n    return a + b\n```", "blocked"),
])
def test_code_grader_executes(completion, status):
    res = CodeGrader(timeout=3).grade(completion, TASK)
    assert res["status"] == status
    assert res["correct"] is (status == "passed")


def test_writes_outside_the_temp_dir_are_blocked(tmp_path):
    target = tmp_path / "escaped.txt"
    res = run_python(f"open({str(target)!r}, 'w').write('x')")
    assert res.status == "blocked" and not target.exists()
    res = run_python(f"import os\nos.remove({str(tmp_path)!r} + '/nothing')")
    assert res.status == "blocked"
    assert run_python("open('inside.txt', 'w').write('ok')\nassert open('inside.txt').read() == 'ok'").passed


def test_infinite_loop_times_out_without_hanging():
    t = time.monotonic()
    res = run_python("import time\nwhile True:\n    time.sleep(0.01)", timeout=1)
    assert res.status == "timeout" and time.monotonic() - t < 10


def test_extract_code_takes_the_last_block():
    code = extract_code("```python\nx = 1\n```\nbetter:\n```python\ndef add(a, b):\n    return a + b\n```", TASK)
    assert code.startswith(TASK["prompt_code"]) and code.rstrip().endswith("return a + b")
