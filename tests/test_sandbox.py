"""The code sandbox against what generated code actually tries. Each attempt is refused or
contained, the grader's verdict is "fail", and the host is unharmed: this test process lives on,
files outside the sandbox are neither read nor changed, and no child outlives the run."""

from __future__ import annotations

import os
import resource
import time

import pytest

from r2route.evaluation.graders import CodeGrader
from r2route.evaluation.sandbox import run_python

TASK = {"prompt_code": "def add(a, b):\n", "test": "def check(f):\n    assert f(2, 3) == 5\n", "entry_point": "add"}


def attempts(secret: str, sentinel: str) -> dict[str, tuple[str, set[str]]]:
    """name → (program, acceptable statuses). Every program also defines a correct ``add``, so a
    status other than "passed" is the sandbox's doing, not a wrong answer."""
    add = "\ndef add(a, b):\n    return a + b\n"
    return {
        "ctypes": ("import ctypes\nctypes.CDLL(None).kill(os.getppid(), 9)" + add, {"blocked"}),
        "os.fork": ("import os\nif os.fork() == 0:\n    os._exit(0)" + add, {"blocked"}),
        "multiprocessing": ("import multiprocessing as mp\np = mp.Process(target=print)\np.start(); p.join()" + add, {"blocked"}),
        "multiprocessing-spawn": ("import multiprocessing as mp\nctx = mp.get_context('spawn')\np = ctx.Process(target=print)\np.start(); p.join()" + add, {"blocked"}),
        "os.system": ("import os\nos.system('touch " + sentinel + ".made')" + add, {"blocked"}),
        "subprocess": ("import subprocess\nsubprocess.run(['rm', '-f', '" + sentinel + "'])" + add, {"blocked"}),
        "kill-parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)" + add, {"blocked"}),
        "killpg": ("import os, signal\nos.killpg(0, signal.SIGKILL)" + add, {"blocked"}),
        "memory": ("x = bytearray(8 << 30)" + add, {"failed"}),
        "memory-slow": ("x = []\nwhile True:\n    x.append(' ' * (1 << 20))" + add, {"failed"}),
        "read-outside": (f"print(open({secret!r}).read())" + add, {"blocked"}),
        "read-etc": ("print(open('/etc/passwd').read())" + add, {"blocked"}),
        "list-outside": ("import os\nprint(os.listdir('/'))" + add, {"blocked"}),
        "write-outside": (f"open({sentinel!r}, 'w').write('overwritten')" + add, {"blocked"}),
        "fork-bomb": ("import os\nwhile True:\n    os.fork()" + add, {"blocked"}),
        "print-forever": ("while True:\n    print('x' * 10000)" + add, {"failed", "timeout"}),
        "socket": ("import socket\nsocket.create_connection(('127.0.0.1', 9))" + add, {"blocked"}),
    }


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    root = tmp_path_factory.mktemp("host")
    secret, sentinel = root / "secret.txt", root / "sentinel.txt"
    secret.write_text("TOP-SECRET-7d1f")
    sentinel.write_text("untouched")
    return secret, sentinel


CASES = list(attempts("s", "t"))


@pytest.mark.parametrize("name", CASES)
def test_attempt_is_refused_or_contained(name, host):
    secret, sentinel = host
    program, allowed = attempts(str(secret), str(sentinel))[name]
    program = "import os\n" + program
    before = _children()
    t = time.monotonic()
    res = run_python(program, timeout=5, memory_mb=512)
    assert res.status in allowed, (res.status, res.detail)
    assert time.monotonic() - t < 30
    assert sentinel.read_text() == "untouched" and not os.path.exists(str(sentinel) + ".made")
    assert "TOP-SECRET" not in res.detail
    assert _children() <= before, "a sandboxed process outlived its run"
    # the same program as a graded completion: the verdict is "fail"
    graded = CodeGrader(timeout=5).grade("```python\n" + program + "\n```", TASK)
    assert graded["correct"] is False


def test_honest_programs_still_run(host):
    """The refusals above must not break ordinary code: imports, files inside, math, recursion."""
    prog = ("import json, re, math, collections, itertools, functools, heapq, fractions, decimal, string, random\n"
            "open('data.json', 'w').write(json.dumps({'a': [1, 2]}))\n"
            "assert json.load(open('data.json'))['a'] == [1, 2]\n"
            "assert sorted(os.listdir('.'))\n"
            "assert math.isclose(sum(fractions.Fraction(1, 2 ** k) for k in range(1, 30)), 1, rel_tol=1e-6)\n")
    res = run_python("import os\n" + prog)
    assert res.status == "passed", res.detail


def test_the_printing_program_cannot_fill_the_hosts_memory():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run_python("while True:\n    print('x' * 100000)", timeout=5)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 << 10  # KiB: under 64 MiB more


def _children() -> set[int]:
    """Live processes whose parent is this one, or whose session is not ours but whose parent is
    gone (an orphan of a sandboxed program is re-parented to init)."""
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, ppid = fields[0], int(fields[1])
        cmdline = open(f"/proc/{d}/cmdline", "rb").read()
        if state != "Z" and (ppid == os.getpid() or b"r2route-exec-" in cmdline):
            out.add(int(d))
    return out
