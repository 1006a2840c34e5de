"""Run untrusted model-written Python (HumanEval completions) in a contained child process.

Containment, in layers: a fresh interpreter in isolated mode (``-I``: no user site, no PYTHON*
variables) with a minimal environment, started in its own session inside a temporary directory
that is removed afterwards; resource limits (CPU seconds, address space, file size, no core
files); a wall-clock timeout that kills the whole process group; and a PEP 578 audit hook,
installed before the program runs, that refuses sockets, subprocesses, ``ctypes`` and any write,
delete or rename outside the temporary directory. The hook stops honest mistakes and casual
escapes of generated code; it is not a security boundary against a determined adversary (run the
evaluation in a container for that).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BLOCKED_MARK = "R2ROUTE-SANDBOX-BLOCKED"

# Runs in the child before the program: limits, then the audit hook (which cannot be removed).
_GUARD = r'''
import os, resource, sys
ROOT = os.path.realpath(sys.argv[1])
MEM = int(sys.argv[2]); CPU = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_CPU, (CPU, CPU))
resource.setrlimit(resource.RLIMIT_AS, (MEM, MEM))
resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
_W = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_NO = ("socket.", "subprocess.", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty",
       "ctypes.", "os.kill", "os.killpg", "pty.", "resource.setrlimit", "sys.addaudithook", "os.setuid")
_PATHS = {"os.remove": 1, "os.rmdir": 1, "os.rename": 2, "os.mkdir": 1, "os.chmod": 1, "os.chown": 1, "os.link": 2,
          "os.symlink": 2, "os.truncate": 1, "shutil.rmtree": 1, "shutil.copyfile": 2, "shutil.move": 2, "os.utime": 1}

def _inside(p):
    try:
        p = os.fsdecode(p) if not isinstance(p, int) else None
    except Exception:
        return False
    if p is None:
        return True  # a file descriptor already granted
    p = os.path.realpath(p)
    return p == ROOT or p.startswith(ROOT + os.sep)

def _deny(what):
    raise PermissionError("%s: %s" % ("R2ROUTE-SANDBOX-BLOCKED", what))

def _hook(event, args):
    if event.startswith(_NO):
        _deny(event)
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2] or 0
        writes = (mode is not None and any(c in str(mode) for c in "wax+")) or (mode is None and flags & _W)
        if writes and not _inside(path):
            _deny("write to %r" % (path,))
    n = _PATHS.get(event)
    if n:
        for p in args[:n]:
            if not _inside(p):
                _deny("%s on %r" % (event, p))

sys.addaudithook(_hook)
del sys.argv[1:4]
import runpy
runpy.run_path(sys.argv[1], run_name="__main__")
'''


@dataclass
class ExecResult:
    """``status``: passed, failed, timeout or blocked (the program tried something the hook refuses)."""

    status: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def run_python(code: str, timeout: float = 10.0, memory_mb: int = 1024) -> ExecResult:
    """Execute ``code`` as a script; passed when it exits 0 within ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="r2route-exec-") as tmp:
        root = Path(tmp)
        (root / "guard.py").write_text(_GUARD)
        (root / "program.py").write_text(code)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", "no_proxy": "*"}
        cmd = [sys.executable, "-I", str(root / "guard.py"), tmp, str(memory_mb << 20), str(int(timeout) + 1), str(root / "program.py")]
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return ExecResult("timeout", f"no exit within {timeout:g} s")
        finally:
            _kill_group(proc)  # children the program may have left behind
        text = err.decode("utf-8", "replace")
        if BLOCKED_MARK in text:
            line = [ln for ln in text.splitlines() if BLOCKED_MARK + ": " in ln and "%s" not in ln][-1]
            return ExecResult("blocked", line.split(BLOCKED_MARK + ": ", 1)[-1][:300])
        if proc.returncode == 0:
            return ExecResult("passed")
        last = text.strip().splitlines()[-1] if text.strip() else f"exit code {proc.returncode}"
        return ExecResult("failed", last[:300])


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
