"""`r2route eval` on the tiny pair: matched-share calibration, resume, summary figures, bad input."""

import json

import numpy as np
import pytest

from r2route.cli import main
from r2route.evaluation import EvalConfig, Evaluation, summarize
from r2route.evaluation.summary import apgr, bootstrap_ci, compare, share_to_recover
from r2route.errors import R2RouteError
from r2route.evaluation.tasks import load_task

from .conftest import QUESTIONS

# Fields that differ between two runs of the same rows: timings, and what the LLM schedule cost (it
# depends on a row's batch-mates, which a resumed wave changes; the tokens do not).
TIMING = {"seconds", "wall", "tokens_per_s", "latency_s", "llm_calls", "rollbacks", "wasted_slm_tokens"}

FAST = ["--pair", "tiny", "--device", "cpu", "-n", "16", "--calibration-size", "4", "-q"]


@pytest.fixture(scope="module")
def task_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("task") / "qa.jsonl"
    p.write_text("".join(json.dumps({"q": f"{q} ({i})", "a": str(i)}) + "\n" for i in range(6) for q in QUESTIONS[:3]))
    return p


def run_main(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_routed_methods_run_at_matched_shares(pair, task_file, tmp_path):
    task = load_task(str(task_file), limit=10, calibration_size=6, prompt_field="q", answer_field="a", grader="exact")
    shares = (0.1, 0.3, 0.5)
    cfg = EvalConfig(methods=("slm", "llm", "entropy", "random", "query"), shares=shares, max_new_tokens=24, batch=4)
    rows = Evaluation(pair, task, cfg, tmp_path, None, progress=False).run()
    assert len(rows) == 10 * (2 + 3 * 3)
    cal = json.loads((tmp_path / "calibration.json").read_text())
    assert [cal["entropy"][str(s)] for s in shares] == sorted((cal["entropy"][str(s)] for s in shares), reverse=True)
    s = summarize(rows, pair.slm.params.total, pair.llm_params)
    got = {(p["method"], p["target_share"]): p["llm_share"] for p in s["points"]}
    assert got[("slm", None)] == 0 and got[("llm", None)] == 1
    for m in ("entropy", "random"):
        measured = [got[(m, x)] for x in shares]
        assert measured == sorted(measured)
        for x, y in zip(shares, measured):
            assert abs(x - y) < 0.12, (m, x, y)  # calibrated on other records, decoded with routing: near, not exact
    # query-level routing sends whole queries: each record is all-SLM or all-LLM
    for r in rows:
        if r["method"] == "query":
            assert r["llm_tokens"] in (0, r["tokens"])
    assert set(s["methods"]) == {"entropy", "random", "query"}


def test_resume_skips_finished_rows_and_drops_a_torn_line(pair, task_file, tmp_path):
    task = load_task(str(task_file), limit=3, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    cfg = EvalConfig(methods=("slm", "random"), shares=(0.3,), max_new_tokens=12, batch=2)
    Evaluation(pair, task, cfg, tmp_path, None, progress=False).run()
    first = (tmp_path / "results.jsonl").read_bytes()
    assert len(first.splitlines()) == 6
    with open(tmp_path / "results.jsonl", "ab") as f:
        f.write(b'{"method": "slm", "sha')  # a crash mid-write
    task5 = load_task(str(task_file), limit=5, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    ev = Evaluation(pair, task5, cfg, tmp_path, None, progress=False)
    assert len(ev.results.rows) == 6
    rows = ev.run()
    after = (tmp_path / "results.jsonl").read_bytes()
    assert after.startswith(first) and len(rows) == 10 and len(after.splitlines()) == 10
    assert len({(r["method"], r["share"], r["id"]) for r in rows}) == 10
    # the same rows come out of a fresh run of the first five records
    fresh = Evaluation(pair, task5, cfg, tmp_path / "fresh", None, progress=False).run()
    key = lambda r: (r["method"], r["share"], r["id"])  # noqa: E731
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING}  # noqa: E731
    assert sorted(map(strip, fresh), key=key) == sorted(map(strip, rows), key=key)


def test_rows_are_written_record_major(pair, task_file, tmp_path):
    """A run stopped part way has every method on the same first records (a wave at a time)."""
    task = load_task(str(task_file), limit=5, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    cfg = EvalConfig(methods=("slm", "llm", "random"), shares=(0.2, 0.6), max_new_tokens=8, batch=2)
    rows = Evaluation(pair, task, cfg, tmp_path, None, progress=False).run()
    ids = [r["id"] for r in rows]
    first = sorted(r.id for r in task.records)
    assert set(ids[: 4 * 2]) == set(first[:2]) and set(ids[8:16]) == set(first[2:4]) and set(ids[16:]) == {first[4]}
    assert [(r["method"], r["share"]) for r in rows[::2]][:4] == [("slm", None), ("llm", None), ("random", 0.2), ("random", 0.6)]


def test_other_settings_are_refused(pair, task_file, tmp_path):
    task = load_task(str(task_file), limit=2, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    Evaluation(pair, task, EvalConfig(methods=("slm",), max_new_tokens=8), tmp_path, None, progress=False).run()
    with pytest.raises(Exception, match=r"holds an evaluation made with other settings \(.*max_new_tokens differ"):
        Evaluation(pair, task, EvalConfig(methods=("slm",), max_new_tokens=9), tmp_path, None, progress=False)


def test_summary_figures():
    slm = {"accuracy": 0.2}
    llm = {"accuracy": 0.6}
    pts = [{"llm_share": 0.1, "accuracy": 0.4}, {"llm_share": 0.3, "accuracy": 0.6}]
    # PGR: 0 at 0, 0.5 at 0.1, 1 at 0.3, 1 at 1 → area 0.025 + 0.15 + 0.7
    assert apgr(pts, slm, llm) == pytest.approx(0.875)
    assert share_to_recover(pts, slm, llm, 0.5) == pytest.approx(0.1)
    assert share_to_recover(pts, slm, llm, 0.8) == pytest.approx(0.1 + 0.2 * 0.6)
    assert share_to_recover([{"llm_share": 0.5, "accuracy": 0.1}], slm, llm, 0.5) == pytest.approx(0.5 + 0.5 * (0.4 - 0.1) / 0.5)
    lo, hi = bootstrap_ci(np.array([1.0] * 30 + [0.0] * 70))
    assert lo < 0.3 < hi and hi - lo < 0.25


def test_neural_is_compared_pairwise_at_matched_share():
    def rows(method, share, correct):
        return [{"method": method, "share": share, "id": i, "correct": c} for i, c in enumerate(correct)]

    hard = [1] * 10 + [0] * 30  # both right on the same easy records
    data = (rows("neural", 0.2, hard[:-2] + [1, 1]) + rows("entropy", 0.2, hard) + rows("random", 0.2, [0] * 40)
            + rows("entropy", 0.5, hard) + rows("slm", None, [0] * 40))
    got = {(c["versus"], c["target_share"]): c for c in compare(data, set(range(40)))}
    assert set(got) == {("entropy", 0.2), ("random", 0.2)}  # no neural row at 0.5, references left out
    e = got[("entropy", 0.2)]
    assert e["difference"] == pytest.approx(2 / 40) and (e["only_method_right"], e["only_versus_right"]) == (2, 0)
    # Paired, the interval sits at or above zero although the two accuracies' own intervals overlap widely.
    assert e["ci95"][0] >= 0 and e["ci95"][1] <= 0.15
    assert got[("random", 0.2)]["difference"] == pytest.approx(12 / 40) and got[("random", 0.2)]["ci95"][0] > 0.1
    assert compare(data, set(range(5)))[0]["n"] == 5  # only the records asked for


def test_a_half_done_unit_cuts_the_points_not_the_pairs():
    def rows(method, share, correct):
        return [{"method": method, "share": share, "id": i, "correct": c, "tokens": 10, "llm_tokens": share and 2 or 0, "seconds": 1.0,
                 "wall": 1.0} for i, c in enumerate(correct)]

    data = rows("neural", 0.2, [1] * 30 + [0] * 10) + rows("entropy", 0.2, [1] * 20 + [0] * 20) + rows("slm", None, [0] * 5)
    s = summarize(data, 1, 2)
    assert s["records"] == 5 and all(p["accuracy"] in (0.0, 1.0) for p in s["points"])  # the curve: records 0-4 only
    (pair,) = s["paired"]
    assert pair["n"] == 40 and pair["difference"] == pytest.approx(10 / 40) and pair["only_method_right"] == 10


def test_cli_runs_and_report_rerenders(capsys, task_file, tmp_path):
    out = tmp_path / "ev"
    args = ["eval", "--task", str(task_file), "--prompt-field", "q", "--answer-field", "a", "--grader", "exact",
            "--limit", "3", "--methods", "slm,llm,random", "--llm-shares", "0.2", "--out", str(out), *FAST]
    code, stdout, err = run_main(capsys, *args)
    assert code == 0, err
    assert "random" in stdout and (out / "pareto.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"] == 3 and len(summary["points"]) == 3
    (out / "pareto.png").unlink()
    code, stdout2, err = run_main(capsys, "eval", "--report", str(out))
    assert code == 0, err
    assert (out / "pareto.png").is_file() and "random" in stdout2


@pytest.mark.parametrize("args, message", [
    (["--task", "nonsense"], "unknown task: nonsense"),
    (["--task", "{file}"], "needs --prompt-field, --answer-field and --grader"),
    (["--task", "{file}", "--prompt-field", "q", "--answer-field", "nope", "--grader", "exact"], "no field 'nope'"),
    (["--task", "{file}", "--prompt-field", "q", "--answer-field", "a", "--grader", "vibes"], "unknown grader"),
    (["--task", "{file}", "--prompt-field", "q", "--answer-field", "a", "--grader", "exact", "--limit", "0"], "--limit must be ≥ 1"),
    (["--task", "{file}", "--prompt-field", "q", "--answer-field", "a", "--grader", "exact", "--methods", "slm,magic"], "--methods must be"),
    (["--task", "{file}", "--prompt-field", "q", "--answer-field", "a", "--grader", "exact", "--llm-shares", "0.1,2"], "--llm-shares must lie in (0, 1)"),
    (["--task", "{file}", "--prompt-field", "q", "--answer-field", "a", "--grader", "exact", "--methods", "neural", "--router", "none"], "method neural needs a router"),
    (["--report", "{tmp}/nothing"], "holds no evaluation"),
])
def test_bad_input_is_one_line(capsys, task_file, tmp_path, args, message):
    args = [a.replace("{file}", str(task_file)).replace("{tmp}", str(tmp_path)) for a in args]
    extra = [] if args[0] == "--report" else ["--out", str(tmp_path / "ev"), *FAST]
    code, _, err = run_main(capsys, "eval", *args, *extra)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


def test_neural_can_join_a_run_once_and_another_router_is_refused(pair, task_file, tmp_path):
    import torch

    from r2route.router import RouterBundle, RouterConfig, RouterModel

    def router(seed):
        torch.manual_seed(seed)
        return RouterBundle(model=RouterModel(RouterConfig(hidden_size=64, embed_size=64)).eval(), pair=pair.identity())

    task = load_task(str(task_file), limit=2, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    cfg = dict(shares=(0.2,), max_new_tokens=8)
    Evaluation(pair, task, EvalConfig(methods=("slm",), **cfg), tmp_path, None, progress=False).run()
    rows = Evaluation(pair, task, EvalConfig(methods=("slm", "neural"), **cfg), tmp_path, router(0), progress=False).run()
    assert {r["method"] for r in rows} == {"slm", "neural"} and len(rows) == 4
    cal = json.loads((tmp_path / "calibration.json").read_text())
    assert "0.2" in cal["neural"]
    Evaluation(pair, task, EvalConfig(methods=("slm",), **cfg), tmp_path, None, progress=False)  # a subset is fine
    with pytest.raises(Exception, match="router differ"):
        Evaluation(pair, task, EvalConfig(methods=("neural",), **cfg), tmp_path, router(1), progress=False)


@pytest.mark.skipif(not (load_task.__globals__["default_data_dir"]() / "gsm8k" / "test.jsonl").is_file(), reason="../shared/data not present")
def test_builtin_tasks_calibrate_on_records_they_never_evaluate():
    g = load_task("gsm8k", limit=5, calibration_size=4)
    assert g.grader == "math" and g.records[0].gold["gold"] == "18"  # Janet's ducks: #### 18
    assert [r.id for r in g.calibration] == [7469, 7470, 7471, 7472]  # train's tail, far from the labeled head
    m = load_task("math500", calibration_size=10)
    assert len(m.records) == 490 and {r.id for r in m.records}.isdisjoint(r.id for r in m.calibration)
    h = load_task("humaneval", limit=2, calibration_size=4)
    assert h.grader == "code" and "def " in h.records[0].gold["prompt_code"] and h.records[0].gold["entry_point"]


@pytest.mark.skipif(not (load_task.__globals__["default_data_dir"]() / "gsm8k" / "test.jsonl").is_file(), reason="../shared/data not present")
def test_a_record_range_keeps_file_ids_and_its_own_signature():
    from r2route.evaluation.tasks import task_signature

    held = load_task("gsm8k", first=300, limit=3, calibration_size=128)
    assert [r.id for r in held.records] == [300, 301, 302]
    assert [r.id for r in held.calibration] == list(range(7473 - 128, 7473))
    assert task_signature(held) != task_signature(load_task("gsm8k", limit=3))  # a run directory holds one range
    assert task_signature(load_task("gsm8k", first=0, limit=3)) == task_signature(load_task("gsm8k", limit=5))
    with pytest.raises(R2RouteError, match="--first 500"):
        load_task("gsm8k", first=500)


# --- crash safety: SIGKILL at random points, rerun, same files ------------------------------------



def _without_timing(obj):
    if isinstance(obj, dict):
        return {k: _without_timing(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [_without_timing(v) for v in obj]
    return obj


def eval_files(out) -> dict:
    """Every file of a run, JSON with its timing fields removed (they differ between any two runs)."""
    files = {}
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        rel = str(p.relative_to(out))
        if p.suffix == ".jsonl":
            files[rel] = [_without_timing(json.loads(line)) for line in p.read_text().splitlines()]
        elif p.suffix == ".json":
            files[rel] = _without_timing(json.loads(p.read_text()))
        else:
            files[rel] = p.stat().st_size > 0  # the plot: present and not empty
    return files


def test_sigkill_at_random_points_and_rerun_give_the_same_files(task_file, tmp_path):
    import random
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "r2route", "eval", "--task", str(task_file), "--prompt-field", "q", "--answer-field", "a",
           "--grader", "exact", "--limit", "8", "--methods", "slm,llm,entropy,random,query", "--llm-shares", "0.2,0.5",
           "--batch", "3", *FAST]
    clean = subprocess.run([*cmd, "--out", str(tmp_path / "clean")], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    expected = eval_files(tmp_path / "clean")
    rows = expected["results.jsonl"]
    assert len(rows) == 8 * (2 + 3 * 2)
    out = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    for _ in range(4):  # kill once a random number of rows is written (0: during calibration)
        target = rng.randrange(0, len(rows))
        proc = subprocess.Popen([*cmd, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = out / "results.jsonl"
        while proc.poll() is None:
            written = len(results.read_bytes().splitlines()) if results.is_file() else 0
            if written >= target and (target or (out / "eval-config.json").is_file()):
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.01)
        proc.wait()
    assert kills >= 3, "the run finished before it could be killed"
    done = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert eval_files(out) == expected


def test_query_rows_sent_to_the_slm_repeat_the_slm_rows(pair, task_file, tmp_path):
    """A query-level row routed wholly to the SLM has the SLM-only row's input: in one run (its
    batch-mates routed elsewhere, other methods run before it) its completion must be the same."""
    task = load_task(str(task_file), limit=8, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    cfg = EvalConfig(methods=("slm", "random", "query"), shares=(0.5,), max_new_tokens=16, batch=4)
    rows = Evaluation(pair, task, cfg, tmp_path, None, progress=False).run()
    slm = {r["id"]: r["completion"] for r in rows if r["method"] == "slm"}
    to_slm = [r for r in rows if r["method"] == "query" and r["llm_tokens"] == 0]
    assert 0 < len(to_slm) < 8  # the query router split the records between the models
    assert all(r["completion"] == slm[r["id"]] for r in to_slm)


def test_verified_methods_are_lossless_and_report_their_costs(pair, task_file, tmp_path):
    """spec and entropy+verify at margin 0 write the LLM's own greedy answers, at fewer LLM calls
    per token than the LLM alone; the summary reports calls and waste per token."""
    task = load_task(str(task_file), limit=6, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    cfg = EvalConfig(methods=("llm", "spec", "entropy+verify"), shares=(0.2,), max_new_tokens=16, batch=3, max_draft=4)
    rows = Evaluation(pair, task, cfg, tmp_path, None, progress=False).run()
    llm = {r["id"]: r["completion"] for r in rows if r["method"] == "llm"}
    for r in rows:
        assert r["completion"] == llm[r["id"]], r["method"]
    s = summarize(rows, pair.slm.params.total, pair.llm_params)
    calls = {p["method"]: p["llm_calls_per_token"] for p in s["points"]}
    assert calls["llm"] == 1.0 and calls["spec"] < 1.0 and calls["entropy+verify"] < 1.0
    assert {p["method"]: p["same_as_llm"] for p in s["points"]} == {"llm": 6, "spec": 6, "entropy+verify": 6}


def test_summary_counts_completions_identical_to_the_llm_alone():
    def rows(method, share, texts):
        return [{"method": method, "share": share, "id": i, "correct": 0, "completion": t, "tokens": 2, "llm_tokens": 1,
                 "wall": 1.0, "seconds": 1.0} for i, t in enumerate(texts)]

    data = rows("llm", None, ["a", "b", "c"]) + rows("spec", None, ["a", "b", "x"]) + rows("entropy", 0.2, ["a", "y", "z"])
    same = {p["method"]: p["same_as_llm"] for p in summarize(data, 1, 2)["points"]}
    assert same == {"llm": 3, "spec": 2, "entropy": 1}
    # only the records every unit finished count, and a run without LLM-only rows has no such figure
    assert {p["method"]: p["same_as_llm"] for p in summarize(data, 1, 2, ids={0, 2})["points"]} == {"llm": 2, "spec": 1, "entropy": 1}
    assert all("same_as_llm" not in p for p in summarize([r for r in data if r["method"] != "llm"], 1, 2)["points"])


def test_verify_compare_joins_a_lenient_run_on_common_records(tmp_path):
    """benchmarks/verify_compare.py (README's R2R / verified R2R / spec table): a lenient run's methods carry their margin,
    only records every method of both runs finished count, a torn last line is skipped, figures by hand."""
    import subprocess
    import sys
    from pathlib import Path

    def run_dir(name, margin, rows, torn=""):
        d = tmp_path / name
        d.mkdir()
        (d / "eval-config.json").write_text(json.dumps({"params": {"slm": 1, "llm": 3}, "settings": {"accept_margin": margin}}))
        (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + torn)
        return d

    def row(method, i, correct, text, wall=2.0, llm_tokens=1):
        return {"method": method, "share": None if method == "llm" else 0.2, "id": i, "correct": correct, "completion": text,
                "tokens": 4, "llm_tokens": llm_tokens, "wall": wall, "seconds": wall, "llm_calls": 1, "wasted_slm_tokens": 0}

    main_run = run_dir("main", 0.0, [row("llm", i, c, t, llm_tokens=4) for i, c, t in [(0, 1, "a"), (1, 0, "b"), (2, 1, "c")]]
                       + [row("entropy+verify", i, c, t) for i, c, t in [(0, 1, "a"), (1, 0, "b"), (2, 1, "c")]]
                       + [row("spec", i, c, t) for i, c, t in [(0, 1, "a"), (1, 0, "b"), (2, 1, "c")]]
                       + [row("entropy", i, c, t) for i, c, t in [(0, 0, "z"), (1, 0, "b"), (2, 1, "c")]])
    lenient = run_dir("lenient", 1.0, [row("entropy+verify", 0, 1, "a", wall=1.0), row("entropy+verify", 1, 1, "x", wall=1.0)],
                      torn='{"method": "entropy+verify", "id": 2, "corr')
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "verify_compare.py"
    res = subprocess.run([sys.executable, str(script), str(main_run), str(lenient), "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["ids"] == [0, 1]  # record 2 has no finished lenient row
    rows = {r["method"]: r for r in out["rows"]}
    assert set(rows) == {"llm", "spec", "entropy", "entropy+verify", "entropy+verify δ=1"} and rows["llm"]["correct"] == 1
    len_ = rows["entropy+verify δ=1"]
    assert (len_["correct"], len_["same_as_llm"]) == (2, 1)
    assert len_["correct_per_hour"] == pytest.approx(3600 * 2 / 2.0)
    assert len_["speed_vs_llm"] == pytest.approx((8 / 2.0) / (8 / 4.0))
    assert len_["avg_params"] == pytest.approx((6 * 1 + 2 * 3) / 8)
    pairs = {(c["first"], c["second"]): c for c in out["paired"]}
    assert set(pairs) == {("spec", "llm"), ("entropy", "llm"), ("entropy+verify", "llm"), ("entropy+verify δ=1", "llm"),
                          ("spec", "entropy"), ("entropy+verify", "entropy"), ("entropy+verify δ=1", "entropy+verify")}
    assert (pairs[("spec", "entropy")]["only_first_right"], pairs[("spec", "entropy")]["only_second_right"]) == (1, 0)
    c = pairs[("entropy+verify δ=1", "llm")]
    assert c["difference"] == pytest.approx(0.5) and (c["only_first_right"], c["only_second_right"]) == (1, 0)
    bad = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not an `r2route eval` run" in bad.stderr


def test_verify_compare_median_speed_over_batches(tmp_path):
    """The per-batch speed ratio: a batch is the rows of one method sharing one `wall`; its ratio is
    against the LLM alone's rows of the same records, whatever batches those ran in. Figures by hand."""
    import subprocess
    import sys
    from pathlib import Path

    def row(method, i, wall, tokens):
        return {"method": method, "share": None, "id": i, "correct": True, "completion": "a", "tokens": tokens,
                "llm_tokens": tokens if method == "llm" else 0, "wall": wall, "seconds": wall, "llm_calls": 0,
                "wasted_slm_tokens": 0}

    d = tmp_path / "run"
    d.mkdir()
    (d / "eval-config.json").write_text(json.dumps({"params": {"slm": 1, "llm": 3}, "settings": {}}))
    # LLM alone: records 0-1 at 10 tok/s, 2-3 at 20 tok/s, 4-5 at 5 tok/s (batches of 2)
    llm = [row("llm", 0, 1.0, 10), row("llm", 1, 1.0, 10), row("llm", 2, 0.5, 10), row("llm", 3, 0.5, 10),
           row("llm", 4, 2.0, 10), row("llm", 5, 2.0, 10)]
    # spec in batches of 3: records 0-2 take 0.75 s each for 10 tokens (13.3 tok/s against the
    # LLM's 30 tokens in 2.5 s = 12 tok/s there), records 3-5 take 4 s each (2.5 tok/s against 30 / 4.5)
    spec = [row("spec", i, 0.75, 10) for i in range(3)] + [row("spec", i, 4.0, 10) for i in range(3, 6)]
    (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in llm + spec))
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "verify_compare.py"
    res = subprocess.run([sys.executable, str(script), str(d), "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = {r["method"]: r["batch_speed_vs_llm"] for r in json.loads(res.stdout)["rows"]}
    first, second = (30 / 2.25) / (30 / 2.5), (30 / 12.0) / (30 / 4.5)
    assert rows["spec"]["batches"] == 2 and rows["spec"]["median"] == pytest.approx((first + second) / 2)
    assert rows["spec"]["quartiles"] == pytest.approx([second + (first - second) / 4, second + 3 * (first - second) / 4])
    assert rows["llm"]["batches"] == 3 and rows["llm"]["median"] == pytest.approx(1.0)


def test_pareto_styles_tell_every_method_apart():
    from r2route.evaluation.report import _styles

    methods = ["entropy", "entropy+verify", "neural", "neural+verify", "random", "query", "mystery", "other+verify"]
    st = _styles(methods)
    looks = {m: (s["color"], s["marker"], s["linestyle"], s.get("markerfacecolor")) for m, s in st.items()}
    assert len(set(looks.values())) == len(methods)
    assert st["neural+verify"]["color"] == st["neural"]["color"] and st["neural+verify"]["markerfacecolor"] == "none"
    assert st["entropy"]["linestyle"] == "--" and st["entropy"]["marker"] == "s"
    # no unknown method borrows a known method's or the reference points' colour
    unknown = {st["mystery"]["color"], st["other+verify"]["color"]}
    assert len(unknown) == 2 and unknown.isdisjoint({"C0", "C1", "C2", "C3", "C7"})
