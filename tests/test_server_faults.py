"""The server when the world misbehaves: SIGTERM mid-answer, clients that leave (streaming or not,
running or still queued), and a decoding step that raises."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time

import httpx
import pytest

from r2route.engine import GenerationConfig
from r2route.server.launch import start_server, stop_server
from r2route.server.worker import EngineWorker, Failure

MSG = [{"role": "user", "content": "Count to a thousand, please."}]
BODY = {"model": "r2route", "messages": MSG, "temperature": 0, "max_tokens": 400}


def metric(base: str, name: str) -> float:
    total = 0.0
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_sigterm_mid_answer_drains_it_refuses_new_work_and_exits_0():
    proc, base = start_server(["--pair", "tiny", "--device", "cpu", "--strategy", "random", "--llm-share", "0.3", "--max-batch", "1"])
    try:
        chunks: list[dict] = []
        with httpx.stream("POST", f"{base}/v1/chat/completions", json={**BODY, "stream": True, "max_tokens": 300}, timeout=120) as r:
            lines = r.iter_lines()
            for line in lines:
                if line.startswith("data: {"):
                    chunks.append(json.loads(line[6:]))
                if len(chunks) == 3:
                    proc.send_signal(signal.SIGTERM)
                    break
            time.sleep(0.5)
            with pytest.raises(httpx.TransportError):  # the listening socket is closed: new work is refused
                httpx.post(f"{base}/v1/chat/completions", json=BODY, timeout=5)
            for line in lines:  # the answer in flight still ends properly
                if line.startswith("data: {"):
                    chunks.append(json.loads(line[6:]))
        finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        assert finishes in (["length"], ["stop"])
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            stop_server(proc)


@pytest.fixture(scope="module")
def slow_server():
    """One row at a time, long answers: a second request waits in the queue behind the first. The
    tiny LLM on the eager runner writes ~800 tokens/s on 2 cores, so an answer of 2,000 tokens lasts
    over twice the client time-outs below."""
    proc, base = start_server(["--pair", "tiny", "--device", "cpu", "--strategy", "llm", "--runner", "eager", "--max-batch", "1",
                               "--max-tokens", "2000"])
    yield base
    stop_server(proc)


def wait_idle(base: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and (metric(base, "r2route_batch_rows") or metric(base, "r2route_requests_in_flight")):
        time.sleep(0.05)


def test_non_streaming_client_that_leaves_stops_its_generation(slow_server):
    base = slow_server
    wait_idle(base)
    cancelled, decoded = metric(base, "r2route_cancelled_requests_total"), metric(base, "r2route_decoded_tokens")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{base}/v1/chat/completions", json={**BODY, "max_tokens": 2000}, timeout=httpx.Timeout(60, read=1.0))
    wait_idle(base)
    assert metric(base, "r2route_cancelled_requests_total") == cancelled + 1
    assert metric(base, 'r2route_requests_total{endpoint="chat",status="499"}') >= 1
    spent = metric(base, "r2route_decoded_tokens") - decoded
    time.sleep(0.5)
    assert metric(base, "r2route_decoded_tokens") - decoded == spent  # nothing decodes for it any more
    assert spent < 2000


def test_a_queued_request_whose_client_leaves_never_decodes(slow_server):
    base = slow_server
    wait_idle(base)
    first_done = threading.Event()
    result = {}

    def first():
        r = httpx.post(f"{base}/v1/chat/completions", json={**BODY, "max_tokens": 2000}, timeout=120)
        result["first"] = r.json()["usage"]["completion_tokens"]
        first_done.set()

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.2)  # the first request holds the only slot
    decoded = metric(base, "r2route_decoded_tokens")
    with pytest.raises(httpx.ReadTimeout):  # the second waits in the queue; its client gives up
        httpx.post(f"{base}/v1/chat/completions", json={**BODY, "max_tokens": 200}, timeout=httpx.Timeout(60, read=0.5))
    assert not first_done.is_set(), "the first request ended before the second gave up: nothing was queued"
    t.join(timeout=120)
    wait_idle(base)
    # only the first request's tokens were decoded after the second arrived
    assert metric(base, "r2route_decoded_tokens") - decoded <= result["first"]
    assert metric(base, "r2route_batch_rows") == 0


class _Boom:
    """A session whose step raises after a few good steps: the worker's failure path."""

    def __init__(self, session, after: int):
        self._s, self.after, self.steps = session, after, 0

    def __getattr__(self, name):
        return getattr(self._s, name)

    def step(self):
        self.steps += 1
        if self.steps > self.after:
            raise RuntimeError("kernel exploded")
        return self._s.step()


def test_a_failing_step_fails_its_requests_and_the_worker_keeps_serving(pair, prompts):
    from r2route.engine.session import DecodeSession
    from r2route.router import make_strategy

    boom = _Boom(DecodeSession(pair, make_strategy("slm"), max_batch=2), after=3)
    worker = EngineWorker(boom)
    worker.start()

    async def go():
        doomed = [worker.submit(p, GenerationConfig(max_new_tokens=50), None) for p in prompts[:2]]
        outcomes = []
        for h in doomed:
            while True:
                item = await asyncio.wait_for(h.events.get(), timeout=30)
                if isinstance(item, Failure):
                    outcomes.append(item.message)
                    break
        boom.after = 10**9  # the fault is gone: the next request is served
        ok = worker.submit(prompts[2], GenerationConfig(max_new_tokens=5), None)
        while True:
            item = await asyncio.wait_for(ok.events.get(), timeout=30)
            if not hasattr(item, "token"):
                return outcomes, item

    try:
        outcomes, last = asyncio.run(go())
    finally:
        worker.stop()
    assert outcomes == ["decoding failed: RuntimeError: kernel exploded"] * 2
    assert type(last).__name__ == "Result" and last.stats.tokens == 5
    assert not boom.rows and not boom.queue


def test_load_with_clients_that_leave_mid_answer(tmp_path):
    """benchmarks/serve_faults.py, small: the others get their solo answers, the leavers are
    cancelled and cost fewer tokens than they asked for, nothing runs on afterwards."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_faults.py"
    out = tmp_path / "faults.jsonl"
    p = subprocess.run([sys.executable, str(script), "--clients", "8", "--requests", "3", "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(out.read_text())
    assert r["errors"] == 0 and r["answered"] == 18 == r["identical_to_solo"]
    assert 1 <= r["cancelled_seen_by_server"] <= r["left_mid_answer"] <= 6
    assert r["tokens_per_leaver"] < r["max_tokens"]
    assert r["rows_left"] == 0 and r["decoded_after_idle"] == 0
