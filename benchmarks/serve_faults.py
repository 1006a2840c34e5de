"""Faults on `r2route serve` over loopback: concurrent clients, a quarter of which leave mid-answer.

    python benchmarks/serve_faults.py --pair tiny --clients 16 --requests 200 [--json PATH]

Starts a server (greedy, random routing at a 0.3 share, so both models write), answers each prompt
once alone (the solo reference), notes the server's RSS, then runs --clients threads of
--requests requests each. Three of every four clients alternate streaming and non-streaming
requests and must get exactly their solo answer with no error; every fourth client streams and
closes the connection after a random number of chunks. Afterwards, from /metrics: nothing left in
the batch or in flight, no token decoded once the clients are gone, how many requests the server
saw cancelled, and how many tokens it decoded for them (against the max_tokens they asked for);
and the server's RSS against before. Bounded in count and time (--deadline), loopback only.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time

import httpx

from common import append_jsonl, parser, proc_status
from serving import concurrently, serve_args, served, solo_reference

QUESTIONS = [f"Question {i}: a farmer has {3 * i + 4} cows and buys {i + 2} more. How many cows?" for i in range(8)]


def rss_mib(pid: int) -> float:
    return proc_status("VmRSS", pid=pid)["VmRSS"] / 1024


def metrics(base: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = out.get(name, 0.0) + float(value)
    return out


def body(q: str, max_tokens: int, stream: bool) -> dict:
    return {"model": "r2route", "messages": [{"role": "user", "content": q}], "temperature": 0, "seed": 1,
            "max_tokens": max_tokens, "stream": stream}


def answer(http: httpx.Client, q: str, max_tokens: int, stream: bool, leave_after: int | None = None) -> tuple[str, int | None]:
    """(text, completion tokens); with ``leave_after``, close the stream after that many chunks
    (tokens None: the client left before the answer ended)."""
    if not stream:
        r = http.post("/v1/chat/completions", json=body(q, max_tokens, False))
        r.raise_for_status()
        j = r.json()
        return j["choices"][0]["message"]["content"], j["usage"]["completion_tokens"]
    text, chunks = "", 0
    with http.stream("POST", "/v1/chat/completions", json=body(q, max_tokens, True)) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            obj = json.loads(line[6:])
            if "error" in obj:
                raise RuntimeError(obj["error"]["message"])
            if obj["choices"]:
                text += obj["choices"][0]["delta"].get("content") or ""
                chunks += 1
            if leave_after is not None and chunks >= leave_after:
                return text, None  # leaving: the with-block closes the connection
    return text, 0


def settle(base: str, timeout: float = 60.0) -> dict[str, float]:
    """/metrics once nothing is left in the batch or in flight (or after ``timeout`` seconds)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = metrics(base)
        if m.get("r2route_batch_rows", 1) == 0 and m.get("r2route_requests_in_flight", 1) == 0:
            break
        time.sleep(0.1)
    return metrics(base)


def run(args) -> dict:
    with served(serve_args(args.pair, args.max_batch, "random", 0.3, ["--max-tokens", str(args.max_tokens)])) as (proc, base):
        http = httpx.Client(base_url=base, timeout=args.deadline)
        solo = solo_reference(QUESTIONS, lambda q: answer(http, q, args.max_tokens, False))
        for q in QUESTIONS:  # the streamed solo answer is the same text
            assert answer(http, q, args.max_tokens, True)[0] == solo[q][0], "streamed and whole answers differ"
        rss_before = rss_mib(proc.pid)
        before = metrics(base)
        lock = threading.Lock()
        tally = {"ok": 0, "same": 0, "errors": [], "left": 0, "tokens_ok": 0}
        stop_at = time.time() + args.deadline

        def client(c: int) -> None:
            rng = random.Random(c)
            leaver = c % 4 == 3
            with httpx.Client(base_url=base, timeout=args.deadline) as h:
                for i in range(args.requests):
                    if time.time() > stop_at:
                        return
                    q = QUESTIONS[(c + i) % len(QUESTIONS)]
                    try:
                        if leaver:
                            _, done = answer(h, q, args.max_tokens, True, leave_after=rng.randint(1, 6))
                            with lock:
                                if done is None:
                                    tally["left"] += 1
                                else:  # the answer ended before the client meant to leave
                                    tally["tokens_ok"] += solo[q][1]
                            continue
                        text, _ = answer(h, q, args.max_tokens, stream=i % 2 == 0)
                        with lock:
                            tally["ok"] += 1
                            tally["same"] += text == solo[q][0]
                            tally["tokens_ok"] += solo[q][1]
                    except Exception as e:  # noqa: BLE001 - every failure is a finding to report
                        with lock:
                            tally["errors"].append(f"{type(e).__name__}: {e}")

        seconds = concurrently(args.clients, client)
        settled = settle(base)
        time.sleep(1.0)
        later = metrics(base)
        rss_after = rss_mib(proc.pid)
        decoded = settled["r2route_decoded_tokens"] - before["r2route_decoded_tokens"]
        cancelled = settled["r2route_cancelled_requests_total"] - before["r2route_cancelled_requests_total"]
        for_leavers = decoded - tally["tokens_ok"]
        return {
            "clients": args.clients, "requests_per_client": args.requests, "seconds": seconds,
            "answered": tally["ok"], "identical_to_solo": tally["same"], "errors": len(tally["errors"]),
            "first_errors": tally["errors"][:3], "left_mid_answer": tally["left"], "cancelled_seen_by_server": cancelled,
            "tokens_decoded_for_leavers": for_leavers, "tokens_per_leaver": for_leavers / max(tally["left"], 1),
            "max_tokens": args.max_tokens, "rows_left": settled["r2route_batch_rows"], "in_flight_left": settled["r2route_requests_in_flight"],
            "decoded_after_idle": later["r2route_decoded_tokens"] - settled["r2route_decoded_tokens"],
            "rss_before_mib": rss_before, "rss_after_mib": rss_after, "rss_ratio": rss_after / rss_before,
        }


def main() -> None:
    ap = parser(__doc__, device=None)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=200, help="requests per client")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--deadline", type=float, default=1800.0, help="seconds; clients stop starting requests after it")
    args = ap.parse_args()
    r = run(args)
    print(f"{r['clients']} clients x {r['requests_per_client']} requests in {r['seconds']:.1f} s: {r['answered']} answered, "
          f"{r['identical_to_solo']} identical to their solo run, {r['errors']} errors {r['first_errors']}")
    print(f"{r['left_mid_answer']} requests left mid-answer; the server cancelled {r['cancelled_seen_by_server']:.0f} and decoded "
          f"{r['tokens_per_leaver']:.1f} tokens per leaver on average (max_tokens {r['max_tokens']})")
    print(f"after: {r['rows_left']:.0f} rows in the batch, {r['in_flight_left']:.0f} in flight, {r['decoded_after_idle']:.0f} tokens decoded "
          f"in the idle second; RSS {r['rss_before_mib']:.0f} -> {r['rss_after_mib']:.0f} MiB (x{r['rss_ratio']:.3f})")
    if args.json_out:  # one line per run, added to what earlier runs wrote
        append_jsonl(args.json_out, [r])
    ok = (r["errors"] == 0 and r["identical_to_solo"] == r["answered"] and r["rows_left"] == 0 and r["decoded_after_idle"] == 0
          and r["rss_ratio"] <= 1.10)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
