"""Bad input, case by case: the CLI answers with one line on stderr and exit code 2, the server
with an OpenAI-style 4xx JSON error; never a traceback, and nothing half-written on disk.

The table in docs/errors.md is rendered from CASES below and checked against it
(``python tests/test_bad_input.py`` prints it).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
KEY = "k"


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input, as the table's first column
    shows: str  # what the user sees: a part of the one-line message (CLI) or of error.message (server)
    argv: tuple[str, ...] = ()  # CLI: arguments of `r2route` (run in a scratch folder holding the inputs)
    http: tuple = ()  # server: (method, path, body or json, headers)
    status: int = 2  # CLI exit code, or HTTP status


TINY = ("--pair", "tiny", "--device", "cpu")
LABEL = ("label", *TINY, "--out", "run", "--quiet")
EVAL = ("eval", *TINY, "--task", "gsm8k", "--data", "gsm.jsonl", "--out", "run", "--quiet", "--methods", "slm")
MSG = [{"role": "user", "content": "hi"}]


def chat(**kw):
    return ("POST", "/v1/chat/completions", {"model": "r2route", "messages": MSG, **kw}, {})


CASES = [
    # --- data files ---
    Case("data-not-utf8", "`label --data` file that is not UTF-8", "latin1.jsonl:1: not UTF-8", (*LABEL, "--data", "latin1.jsonl")),
    Case("data-empty", "`label --data` file with no records", "data file is empty", (*LABEL, "--data", "empty.jsonl")),
    Case("data-not-object", "a JSONL line that is not an object", "array.jsonl:2: expected a JSON object, got list", (*LABEL, "--data", "array.jsonl")),
    Case("data-bad-json", "a JSONL line that is not JSON", "broken.jsonl:1: malformed JSON", (*LABEL, "--data", "broken.jsonl")),
    Case("data-missing-field", "a record without the `--field`", "nofield.jsonl:1: no field 'question'", (*LABEL, "--data", "nofield.jsonl")),
    Case("data-missing-file", "`--data` that does not exist", "data file not found", (*LABEL, "--data", "nowhere.jsonl")),
    Case("limit-zero", "`--limit 0`", "--limit must be ≥ 1", (*LABEL, "--data", "good.jsonl", "--limit", "0")),
    Case("eval-limit-zero", "`eval --limit 0`", "--limit must be ≥ 1", (*EVAL, "--limit", "0")),
    Case("eval-unknown-method", "`eval --methods` with an unknown method", "--methods must be a non-empty subset of slm,llm,neural,entropy,random,query,spec,neural+verify,entropy+verify, got slm,best", (*EVAL[:-1], "slm,best")),
    Case("eval-share-above-one", "`eval --llm-shares` outside (0, 1)", "--llm-shares must lie in (0, 1)", (*EVAL, "--llm-shares", "0.2,1.5")),
    Case("eval-share-zero", "`eval --llm-shares 0`", "--llm-shares must lie in (0, 1)", (*EVAL, "--llm-shares", "0")),
    Case("eval-unknown-runner", "`eval --runner` that does not exist", "unknown runner: fast", (*EVAL, "--runner", "fast")),
    Case("share-above-one", "`generate --llm-share 1.5`", "--llm-share must be in [0, 1]", ("generate", "hi", *TINY, "--strategy", "random", "--llm-share", "1.5")),
    Case("share-negative", "`generate --llm-share -0.1`", "--llm-share must be in [0, 1]", ("generate", "hi", *TINY, "--strategy", "random", "--llm-share", "-0.1")),
    Case("unknown-strategy", "`--strategy` that does not exist", "unknown strategy", ("generate", "hi", *TINY, "--strategy", "oracle")),
    Case("unknown-pair", "`--pair` that does not exist", "unknown pair preset", ("generate", "hi", "--pair", "huge")),
    Case("unknown-runner", "`--runner` that does not exist", "unknown runner: fast", ("generate", "hi", *TINY, "--runner", "fast")),
    Case("max-new-tokens-zero", "`generate -n 0`", "max new tokens must be ≥ 1", ("generate", "hi", *TINY, "-n", "0")),
    Case("temperature-negative", "`generate --temperature -1`", "temperature must be ≥ 0", ("generate", "hi", *TINY, "--temperature", "-1")),
    Case("prompt-too-long", "a prompt longer than the context window", "context window", ("generate", "word " * 3000, *TINY)),
    # --- routers ---
    Case("router-other-pair", "`--router` trained for another pair", "was trained for", ("generate", "hi", *TINY, "--router", "router-cross")),
    Case("router-truncated", "a truncated `router.safetensors`", "corrupt router weights", ("generate", "hi", *TINY, "--router", "router-truncated")),
    Case("router-json-keys", "a `router.json` missing keys", "corrupt router config", ("generate", "hi", *TINY, "--router", "router-nokeys")),
    Case("router-missing", "`--router` that does not exist", "router not found", ("generate", "hi", *TINY, "--router", "no-router")),
    # --- calibrations (SLM entropy at a target share) ---
    Case("entropy-share-uncalibrated", "`--strategy entropy --llm-share` with no calibration", "needs a calibration", ("generate", "hi", *TINY, "--strategy", "entropy", "--llm-share", "0.2")),
    Case("calibration-missing", "`--calibration` that does not exist", "calibration file not found", ("generate", "hi", *TINY, "--calibration", "nowhere.json")),
    Case("calibration-not-one", "`--calibration` on a file `calibrate` did not write", "not a calibration file with SLM entropy thresholds", ("generate", "hi", *TINY, "--calibration", "good.jsonl")),
    Case("calibration-other-slm", "`--calibration` measured with another SLM", "was measured on", ("generate", "hi", *TINY, "--calibration", "cal-other-slm.json")),
    Case("calibration-share-absent", "`--llm-share` the calibration does not hold", "calibrates SLM entropy at LLM shares 0.2", ("generate", "hi", *TINY, "--calibration", "cal-tiny.json", "--llm-share", "0.35")),
    Case("calibration-not-entropy", "`--calibration` with another strategy", "it is for --strategy entropy, not random", ("generate", "hi", *TINY, "--strategy", "random", "--calibration", "cal-tiny.json")),
    # --- models ---
    Case("gguf-truncated", "a truncated GGUF file", "cut.gguf is cut short", ("generate", "hi", "--slm", "cut.gguf", "--llm", "cut.gguf", "--device", "cpu")),
    Case("gguf-not-gguf", "a `.gguf` file that is not GGUF", "text.gguf is not a GGUF file", ("generate", "hi", "--slm", "text.gguf", "--llm", "text.gguf", "--device", "cpu")),
    Case("model-missing", "a model path that does not exist", "model file not found", ("generate", "hi", "--slm", "./no/such/model.gguf", "--llm", "./no/such/model.gguf", "--device", "cpu")),
    # --- output and runs ---
    Case("out-is-file", "`--out` that is a file", "exists and is not a directory", (*LABEL[:-3], "--out", "good.jsonl", "--data", "good.jsonl", "--quiet")),
    Case("eval-out-is-file", "`eval --out` that is a file", "exists and is not a directory", (*EVAL[:-5], "--out", "good.jsonl", "--quiet", "--methods", "slm")),
    Case("eval-calibration-missing", "`eval --calibration` that does not exist", "no such file (make it with r2route calibrate)", (*EVAL, "--calibration", "nowhere.json")),
    Case("eval-calibration-not-one", "`eval --calibration` on a file `calibrate` did not write", "not a calibration file", (*EVAL[:-1], "entropy", "--calibration", "good.jsonl")),
    Case("calibrate-out-is-dir", "`calibrate --out` that is a directory", "is a directory: give the calibration file's path", ("calibrate", *TINY, "--task", "gsm8k", "--data", "gsm.jsonl", "--out", "plain-dir", "--quiet")),
    Case("report-not-a-run", "`eval --report` on a folder that is not a run", "plain-dir holds no evaluation", ("eval", "--report", "plain-dir")),
    Case("labels-no-positive", "`train-router` on labels with no divergent token", "no divergent", ("train-router", "--pair", "tiny", "--labels", "labels-neg", "--out", "router-out", "--quiet")),
    Case("labels-too-few-queries", "`train-router --queries` beyond the labeled queries", "holds labels of the first", ("train-router", "--pair", "tiny", "--labels", "labels-neg", "--queries", "100000", "--out", "router-out", "--quiet")),
    Case("labels-not-a-run", "`train-router --labels` on a folder that is not a label run", "holds no finished label run", ("train-router", "--pair", "tiny", "--labels", "plain-dir", "--out", "router-out", "--quiet")),
    # --- the server ---
    Case("max-tokens-zero", "`max_tokens: 0`", "max_tokens", http=chat(max_tokens=0), status=400),
    Case("max-tokens-negative", "`max_tokens: -5`", "max_tokens", http=chat(max_tokens=-5), status=400),
    Case("max-tokens-over-window", "`max_tokens` above the context window", "above the context window", http=chat(max_tokens=10**6), status=400),
    Case("temperature-negative-http", "`temperature: -0.5`", "temperature", http=chat(temperature=-0.5), status=400),
    Case("top-p-over-one", "`top_p: 1.5`", "top_p", http=chat(top_p=1.5), status=400),
    Case("messages-empty", "`messages: []`", "messages", http=("POST", "/v1/chat/completions", {"model": "r2route", "messages": []}, {}), status=400),
    Case("role-unknown", "a message with role `wizard`", "role", http=("POST", "/v1/chat/completions", {"model": "r2route", "messages": [{"role": "wizard", "content": "hi"}]}, {}), status=400),
    Case("n-two", "`n: 2`", "n:", http=chat(n=2), status=400),
    Case("model-unknown", "an unknown `model`", "unknown model", http=("POST", "/v1/chat/completions", {"model": "gpt-9", "messages": MSG}, {}), status=400),
    Case("json-malformed", "a body that is not JSON", "not valid JSON", http=("POST", "/v1/chat/completions", b"{not json", {}), status=400),
    Case("json-not-object", "a JSON body that is not an object", "must be a JSON object", http=("POST", "/v1/chat/completions", b"[1, 2]", {}), status=400),
    Case("content-type", "`Content-Type: text/plain`", "application/json", http=("POST", "/v1/chat/completions", b"{}", {"Content-Type": "text/plain"}), status=415),
    Case("body-over-limit", "a body over `--max-body-bytes`", "request body over", http=("POST", "/v1/completions", {"model": "r2route", "prompt": "x" * 30000}, {}), status=413),
    Case("api-key-wrong", "a wrong API key", "invalid or missing API key", http=("POST", "/v1/chat/completions", {"model": "r2route", "messages": MSG}, {"Authorization": "Bearer nope"}), status=401),
    Case("prompt-over-window-http", "a prompt longer than the context window", "context window", http=("POST", "/v1/completions", {"model": "r2route", "prompt": list(range(3, 1000)) * 3}, {}), status=400),
    Case("token-id-out-of-vocab", "prompt token ids outside the vocabulary", "prompt token ids must be in", http=("POST", "/v1/completions", {"model": "r2route", "prompt": [1, 10**9]}, {}), status=400),
]
CLI = [c for c in CASES if c.argv]
HTTP = [c for c in CASES if c.http]


def render_table() -> str:
    """docs/errors.md's table: case → what the user sees."""
    lines = ["| bad input | where | what the user sees |", "|---|---|---|"]
    for c in CASES:
        where = f"CLI, exit {c.status}" if c.argv else f"server, HTTP {c.status}"
        lines.append(f"| {c.what} | {where} | `…{c.shows}…` |")
    return "\n".join(lines)


def test_the_documented_table_is_the_tested_one():
    assert len(CASES) >= 25
    assert render_table() in (ROOT / "docs" / "errors.md").read_text(), "docs/errors.md's table is stale: python tests/test_bad_input.py"


# --- the CLI -------------------------------------------------------------------------------------


def _router(pair, identity, out: Path):
    from r2route.router.io import RouterBundle, save_router
    from r2route.router.model import RouterConfig, RouterModel

    torch.manual_seed(0)
    d = pair.slm.model.config.hidden_size
    save_router(RouterBundle(RouterModel(RouterConfig(hidden_size=d, embed_size=d, width=16, depth=1)).eval(), pair=identity), out)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, pair):
    """A folder of bad (and a few good) inputs, built once and copied for each case."""
    from r2route.labeling import LabelConfig, build_verifier, llm_writer, run_labeling
    from r2route.pair import PairConfig, load_pair

    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "latin1.jsonl").write_bytes('{"question": "café"}\n'.encode("latin-1"))
    (root / "empty.jsonl").write_text("\n\n")
    (root / "array.jsonl").write_text('{"question": "a"}\n[1, 2]\n')
    (root / "broken.jsonl").write_text('{"question": \n')
    (root / "nofield.jsonl").write_text('{"prompt": "a"}\n')
    (root / "good.jsonl").write_text('{"question": "What is 2 + 2?"}\n')
    (root / "gsm.jsonl").write_text("".join(json.dumps({"question": f"{i} + 1?", "answer": f"#### {i + 1}"}) + "\n" for i in range(40)))
    (root / "plain-dir").mkdir()
    (root / "plain-dir" / "notes.txt").write_text("not a run")
    cross = load_pair(PairConfig(pair="tiny-cross", device="cpu"))
    _router(pair, cross.identity(), root / "router-cross")
    for name, identity in (("cal-other-slm.json", dict(pair.identity(), slm="another-slm")), ("cal-tiny.json", pair.identity())):
        (root / name).write_text(json.dumps({"format": "r2route-calibration", "key": {"pair": identity, "records": [0]},
                                             "thresholds": {"entropy": {"0.2": 0.5}}, "routers": {}, "tokens": 9, "seconds": 1.0}))
    _router(pair, pair.identity(), root / "router-truncated")
    w = root / "router-truncated" / "router.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    _router(pair, pair.identity(), root / "router-nokeys")
    meta = json.loads((root / "router-nokeys" / "router.json").read_text())
    del meta["config"]
    (root / "router-nokeys" / "router.json").write_text(json.dumps(meta))
    from .gguf_tiny import write_gguf

    write_gguf(pair.slm.model, pair.slm.tokenizer, root / "whole.gguf")
    data = (root / "whole.gguf").read_bytes()
    (root / "cut.gguf").write_bytes(data[: len(data) // 3])
    (root / "whole.gguf").unlink()
    (root / "text.gguf").write_text("this is not a model\n")
    cfg = LabelConfig(data=str(root / "gsm.jsonl"), limit=6, max_answer_tokens=16, continuation_tokens=4, keep_truncated=True, chunk=6)
    writer = llm_writer(pair, cfg.slots)
    run_labeling(pair, cfg, root / "labels-neg", build_verifier("rule", pair, writer), writer=writer, progress=False)
    for shard in (root / "labels-neg").rglob("*.parquet"):
        table = pq.read_table(shard)
        if "divergent" in table.column_names:
            col = table.column_names.index("divergent")
            zeros = pa_zeros_like(table.column("divergent"))
            pq.write_table(table.set_column(col, "divergent", zeros), shard)
    return root


def pa_zeros_like(col):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pc.equal(col, 1), pa.scalar(0, col.type), col)


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case", CLI, ids=[c.id for c in CLI])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(case, inputs, tmp_path, capsys, monkeypatch):
    from r2route.cli import main

    work = tmp_path / "w"
    shutil.copytree(inputs, work)
    before = snapshot(work)
    monkeypatch.chdir(work)
    capsys.readouterr()
    code = main(list(case.argv))
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == case.status, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert case.shows in lines[0], lines[0]
    assert "Traceback" not in err + out
    assert snapshot(work) == before, "the failed command left files behind"


# --- the server ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    from r2route.server.launch import running_server

    with running_server(["--pair", "tiny", "--device", "cpu", "--api-key", KEY, "--max-body-bytes", "20000", "--strategy", "slm"]) as base:
        yield base


@pytest.mark.parametrize("case", HTTP, ids=[c.id for c in HTTP])
def test_server_bad_input_is_an_openai_error(case, server):
    method, path, body, headers = case.http
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **headers}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.request(method, f"{server}{path}", content=content, headers=h, timeout=60)
    assert r.status_code == case.status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert case.shows in err["message"], err["message"]
    assert "\n" not in err["message"] and "Traceback" not in r.text


if __name__ == "__main__":
    os.chdir(ROOT)
    print(render_table())
