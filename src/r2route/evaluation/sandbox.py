"""Run untrusted model-written Python (HumanEval completions) in a contained child process.

Containment, in layers: a fresh interpreter in isolated mode (``-I``: no user site, no PYTHON*
variables) with a minimal environment, started in its own session inside a temporary directory
that is removed afterwards; resource limits (CPU seconds, address space, file size, no core
files); stdout and stderr go to files under the file-size limit, so a program that prints forever
is stopped there instead of filling the host's memory; a wall-clock timeout that kills the whole
process group; and a PEP 578 audit hook, installed before the program runs, that refuses sockets,
subprocesses and forks (``_posixsubprocess`` cannot even be imported), ``ctypes``, signals to
other processes, any write, delete or rename outside the temporary directory, and any read or
listing outside it and the interpreter's own library folders. The hook stops honest mistakes and
casual escapes of generated code; it is not a security boundary against a determined adversary
(C extensions are not audited: run the evaluation in a container for that).
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
       "ctypes.", "os.kill", "os.killpg", "signal.pthread_kill", "pty.", "resource.setrlimit", "sys.addaudithook", "os.setuid")
_NO_IMPORT = ("_posixsubprocess", "_ctypes", "_socket")  # fork_exec and friends raise no audit event of their own
_PATHS = {"os.remove": 1, "os.rmdir": 1, "os.rename": 2, "os.mkdir": 1, "os.chmod": 1, "os.chown": 1, "os.link": 2,
          "os.symlink": 2, "os.truncate": 1, "shutil.rmtree": 1, "shutil.copyfile": 2, "shutil.move": 2, "os.utime": 1}
_LISTS = ("os.listdir", "os.scandir", "glob.glob")
# Reads are allowed from the program's folder, the interpreter's library folders (imports) and a few devices.
_READ = [ROOT] + sorted({os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)})
_DEVICES = {"/dev/null", "/dev/urandom", "/dev/random"}

def _path(p):
    if isinstance(p, int):
        return None  # a file descriptor already granted
    try:
        return os.path.realpath(os.fsdecode(p))
    except Exception:
        return ""

def _under(p, roots):
    return any(p == r or p.startswith(r + os.sep) for r in roots)

def _inside(p):
    p = _path(p)
    return p is None or (p != "" and _under(p, [ROOT]))

def _readable(p):
    p = _path(p)
    return p is None or (p != "" and (p in _DEVICES or _under(p, _READ)))

def _deny(what):
    raise PermissionError("%s: %s" % ("R2ROUTE-SANDBOX-BLOCKED", what))

def _hook(event, args):
    if event.startswith(_NO):
        _deny(event)
    if event == "import" and args and str(args[0]).split(".")[0] in _NO_IMPORT:
        _deny("import " + str(args[0]))
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2] or 0
        writes = (mode is not None and any(c in str(mode) for c in "wax+")) or (mode is None and flags & _W)
        if writes and not _inside(path):
            _deny("write to %r" % (path,))
        if not writes and not _readable(path):
            _deny("read of %r" % (path,))
    if event in _LISTS and args and args[0] is not None and not _readable(args[0]):
        _deny("%s of %r" % (event, args[0]))
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
        with open(root / "stdout", "wb") as out, open(root / "stderr", "wb") as err:
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait()
                return ExecResult("timeout", f"no exit within {timeout:g} s")
            finally:
                _kill_group(proc)  # children the program may have left behind
        text = _tail(root / "stderr")
        if BLOCKED_MARK in text:
            line = [ln for ln in text.splitlines() if BLOCKED_MARK + ": " in ln and "%s" not in ln][-1]
            return ExecResult("blocked", line.split(BLOCKED_MARK + ": ", 1)[-1][:300])
        if proc.returncode == 0:
            return ExecResult("passed")
        if proc.returncode == -signal.SIGXFSZ:
            return ExecResult("failed", "output over the 16 MB file-size limit")
        last = text.strip().splitlines()[-1] if text.strip() else f"exit code {proc.returncode}"
        return ExecResult("failed", last[:300])


def _tail(path: Path, limit: int = 64 << 10) -> str:
    """The end of an output file (a program may have written up to the file-size limit)."""
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - limit))
        return f.read().decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
