"""Start `r2route serve` as a child process on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: list[str], ready_timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start a server with ``args``; return the process and its base URL once /health answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "r2route", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + ready_timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().strip()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.time() > deadline:
            stop_server(proc)
            raise RuntimeError("server did not come up in time")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running_server(args: list[str], ready_timeout: float = 120.0):
    """Yield the base URL (``http://127.0.0.1:PORT``) of a server started with ``args``; stop it after."""
    proc, base = start_server(args, ready_timeout)
    try:
        yield base
    finally:
        stop_server(proc)
