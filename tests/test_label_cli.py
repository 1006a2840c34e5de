"""`r2route label` as a user runs it: crash safety, bad input, and a remote LLM over HTTP."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r2route.cli import main
from r2route.labeling import LabelConfig, build_verifier, llm_writer, run_labeling
from r2route.pair import PairConfig, load_pair
from r2route.server.launch import free_port, running_server

from .conftest import QUESTIONS

TINY = ["--pair", "tiny", "--device", "cpu"]
FAST = ["--keep-truncated", "--max-answer-tokens", "16", "--continuation-tokens", "6", "--max-mismatches", "2", "--chunk", "1", "-q"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "q.jsonl"
    p.write_text("".join(json.dumps({"question": q}) + "\n" for q in QUESTIONS[:3]))
    return p


def label_cmd(data, out, *extra):
    return [sys.executable, "-m", "r2route", "label", "--data", str(data), "--out", str(out), *TINY, *FAST, "--verifier", "llm", *extra]


def snapshot(out: Path) -> dict:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def kill_when(cmd, out: Path, marker: str, timeout=240):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (out / marker).exists():
        if proc.poll() is not None or time.time() - t0 > timeout:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_and_resume_give_byte_identical_tables(data, tmp_path):
    env_ok = subprocess.run(label_cmd(data, tmp_path / "clean"), capture_output=True, text=True)
    assert env_ok.returncode == 0, env_ok.stderr
    clean = snapshot(tmp_path / "clean")
    assert "shards/00002.parquet" in clean and "dataset.json" in clean
    out = tmp_path / "killed"
    kill_when(label_cmd(data, out), out, "answers/00001.json")  # mid chunk 1
    assert not (out / "dataset.json").exists()
    kill_when(label_cmd(data, out), out, "continuations/00002.json")  # mid chunk 2, after a resume
    p = subprocess.run(label_cmd(data, out), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert snapshot(out) == clean


def test_leftovers_of_a_kill_between_writes_are_cleaned(data, tmp_path):
    """States a SIGKILL can leave that the timed kills above rarely hit: a root file's temp write
    (dataset.json, label-stats.json) and a chunk's features after its shard was written."""
    import shutil

    clean = tmp_path / "clean"
    assert subprocess.run(label_cmd(data, clean), capture_output=True).returncode == 0
    want = snapshot(clean)
    out = tmp_path / "killed"
    shutil.copytree(clean, out)
    (out / ".dataset.json.abc123.tmp").write_text('{"half": ')
    (out / "features").mkdir(exist_ok=True)
    (out / "features" / "00001.parquet").write_bytes(b"left behind")
    p = subprocess.run(label_cmd(data, out), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert snapshot(out) == want


def run_main(capsys, *args):
    code = main(list(args))
    return code, *capsys.readouterr()


@pytest.mark.parametrize("content, field, message", [
    (None, "question", "data file not found"),
    ("", "question", "data file is empty"),
    ('{"question": "a"}\n{"q": "b"}\n', "question", ":2: no field 'question'"),
    ('{"question": "a"}\n{"question": "b"}\n{"question": \n', "question", ":3: malformed JSON"),
    (b'{"question": "a"}\n{"question": "\xff\xfe"}\n', "question", ":2: not UTF-8"),
    ('["a"]\n', "question", ":1: expected a JSON object"),
])
def test_bad_data_is_one_line_and_writes_nothing(capsys, tmp_path, content, field, message):
    data = tmp_path / "d.jsonl"
    if isinstance(content, bytes):
        data.write_bytes(content)
    elif content is not None:
        data.write_text(content)
    out = tmp_path / "out"
    code, stdout, err = run_main(capsys, "label", "--data", str(data), "--field", field, "--out", str(out), *TINY, *FAST)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--limit", "0"], "--limit must be ≥ 1"),
    (["--chunk", "0"], "--chunk must be ≥ 1"),
    (["--verifier", "no/such-model-dir"], ""),
])
def test_bad_settings(capsys, tmp_path, data, args, message):
    code, _, err = run_main(capsys, "label", "--data", str(data), "--out", str(tmp_path / "o"), *TINY, *FAST, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_unreachable_llm_url(capsys, tmp_path, data):
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, _, err = run_main(capsys, "label", "--data", str(data), "--out", str(tmp_path / "o"), *TINY, *FAST, "--llm-url", url)
    assert code == 2 and "cannot reach --llm-url" in err
    assert not (tmp_path / "o").exists()


def test_out_of_another_pair_or_settings_is_refused(capsys, tmp_path, data):
    out = tmp_path / "o"
    assert run_main(capsys, "label", "--data", str(data), "--out", str(out), "--limit", "1", *TINY, *FAST, "--verifier", "rule")[0] == 0
    code, _, err = run_main(capsys, "label", "--data", str(data), "--out", str(out), "--limit", "1", *TINY, *FAST, "--verifier", "llm")
    assert code == 2 and "other settings (" in err and "verifier.verifier" in err
    code, _, err = run_main(capsys, "label", "--data", str(data), "--out", str(out), "--limit", "1", "--pair", "tiny-cross", "--device", "cpu", *FAST, "--verifier", "rule")
    assert code == 2 and "pair.llm" in err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("not a label run")
    code, _, err = run_main(capsys, "label", "--data", str(data), "--out", str(tmp_path / "other"), *TINY, *FAST)
    assert code == 2 and "holds no label run" in err


def test_remote_llm_over_http_gives_the_local_answers(tmp_path, data, pair):
    settings = dict(keep_truncated=True, max_answer_tokens=12, continuation_tokens=6, max_mismatches=2, chunk=2)
    with running_server(["--pair", "tiny", "--device", "cpu", "--strategy", "llm", "--model-name", "tiny-llm"]) as base:
        remote = load_pair(PairConfig(pair="tiny", device="cpu", llm_url=f"{base}/v1"))
        assert remote.handoff == "text"
        w = llm_writer(remote, 4)
        ver = build_verifier(None, remote, w, url=f"{base}/v1")  # --verifier-url: the verifier LLM over HTTP too
        assert ver.name == "llm" and ver.writer.remote
        stats = run_labeling(remote, LabelConfig(data=str(data), **settings), tmp_path / "remote", ver, writer=w, progress=False)
    w = llm_writer(pair, 4)
    run_labeling(pair, LabelConfig(data=str(data), **settings), tmp_path / "local", build_verifier("rule", pair, w), writer=w, progress=False)

    def texts(out):
        return [a["text"] for p in sorted((out / "answers").glob("*.json")) for a in json.loads(p.read_text())["answers"]]

    assert texts(tmp_path / "remote") == texts(tmp_path / "local")
    assert stats["tokens"] > 0 and stats["judged"] + stats["unparseable"] > 0
