"""`r2route calibrate` + `r2route eval --calibration`: one SLM pass calibrates several routers, and
each run reads exactly the thresholds its own calibration would have computed."""

import json

import pytest
import torch

from r2route.cli import main
from r2route.evaluation import EvalConfig, Evaluation
from r2route.evaluation.shared_calibration import scorer_name
from r2route.evaluation.tasks import load_task
from r2route.router import RouterBundle, RouterConfig, RouterModel, load_router
from r2route.router.io import save_router

from .test_eval import TIMING, task_file  # noqa: F401 (a fixture)

SHARES = (0.2, 0.5)
FLAGS = ["--prompt-field", "q", "--answer-field", "a", "--grader", "exact", "--calibration-size", "4", "-n", "8",
         "--pair", "tiny", "--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def routers(pair, tmp_path_factory):
    out = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        bundle = RouterBundle(model=RouterModel(RouterConfig(hidden_size=64, embed_size=64)).eval(), pair=pair.identity())
        out.append(str(save_router(bundle, tmp_path_factory.mktemp(f"router{seed}"))))
    return out


def calibrate(capsys, task_file, out, *routers, shares=SHARES, flags=FLAGS):  # noqa: F811
    args = ["calibrate", "--task", str(task_file), "--out", str(out), "--llm-shares", ",".join(map(str, shares)), *flags]
    for r in routers:
        args += ["--router", r]
    code = main(args)
    _, err = capsys.readouterr()
    return code, err


def test_one_pass_gives_each_router_the_thresholds_of_its_own_calibration(pair, task_file, routers, tmp_path, capsys):  # noqa: F811
    task = load_task(str(task_file), limit=2, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    cfg = dict(methods=("entropy", "neural"), shares=SHARES, max_new_tokens=8)
    own = {}
    for r in routers:
        d = tmp_path / f"own-{r.rsplit('/', 1)[-1]}"
        rows = Evaluation(pair, task, EvalConfig(**cfg), d, load_router(r), progress=False).run()
        own[r] = (json.loads((d / "calibration.json").read_text()), rows)
    assert own[routers[0]][0]["neural"] != own[routers[1]][0]["neural"]  # the two routers calibrate differently

    code, err = calibrate(capsys, task_file, tmp_path / "cal.json", *routers)
    assert code == 0, err
    for r in routers:
        d = tmp_path / f"shared-{r.rsplit('/', 1)[-1]}"
        code = main(["eval", "--task", str(task_file), "--limit", "2", "--methods", "entropy,neural", "--router", r, "--llm-shares",
                     ",".join(map(str, SHARES)), "--calibration", str(tmp_path / "cal.json"), "--out", str(d), *FLAGS])
        assert code == 0, capsys.readouterr().err
        rows = [json.loads(line) for line in (d / "results.jsonl").read_text().splitlines()]
        cal = json.loads((d / "calibration.json").read_text())
        for m in ("entropy", "neural"):
            assert cal[m] == own[r][0][m], (r, m)  # exactly: the same SLM trajectory, recorded once for both
        assert cal["tokens"] == own[r][0]["tokens"] and cal["from"] == str(tmp_path / "cal.json")
        strip = lambda row: {k: v for k, v in row.items() if k not in TIMING}  # noqa: E731
        assert list(map(strip, rows)) == list(map(strip, own[r][1]))


def test_a_rerun_decodes_only_for_routers_the_file_lacks(task_file, routers, tmp_path, capsys):  # noqa: F811
    path = tmp_path / "cal.json"
    assert calibrate(capsys, task_file, path, routers[0])[0] == 0
    first = json.loads(path.read_text())
    assert calibrate(capsys, task_file, path, routers[0])[0] == 0
    assert json.loads(path.read_text()) == first  # nothing decoded again: the same seconds, the same file
    assert calibrate(capsys, task_file, path, routers[0], routers[1])[0] == 0
    both = json.loads(path.read_text())
    assert set(both["thresholds"]) == set(first["thresholds"]) | {next(iter(set(both["routers"]) - set(first["routers"])))}
    for name, th in first["thresholds"].items():
        assert both["thresholds"][name] == th
    assert both["seconds"] > first["seconds"]


def test_a_resumed_run_keeps_the_thresholds_its_rows_used(pair, task_file, routers, tmp_path, capsys):  # noqa: F811
    """A run calibrated on its own and resumed with a file and another share takes only the new
    share's threshold from the file."""
    task = load_task(str(task_file), limit=1, calibration_size=4, prompt_field="q", answer_field="a", grader="exact")
    bundle = load_router(routers[0])
    Evaluation(pair, task, EvalConfig(methods=("neural",), shares=(0.2,), max_new_tokens=8), tmp_path / "run", bundle, progress=False).run()
    own = json.loads((tmp_path / "run" / "calibration.json").read_text())["neural"]["0.2"]
    assert calibrate(capsys, task_file, tmp_path / "cal.json", routers[0])[0] == 0
    f = json.loads((tmp_path / "cal.json").read_text())
    f["thresholds"][scorer_name(bundle)]["0.2"] = own + 0.25  # a file that disagrees at the share the rows used
    (tmp_path / "cal.json").write_text(json.dumps(f))
    Evaluation(pair, task, EvalConfig(methods=("neural",), shares=(0.2, 0.5), max_new_tokens=8), tmp_path / "run", bundle,
               progress=False, calibration=tmp_path / "cal.json").run()
    cal = json.loads((tmp_path / "run" / "calibration.json").read_text())["neural"]
    assert cal == {"0.2": own, "0.5": f["thresholds"][scorer_name(bundle)]["0.5"]}


def test_a_run_reads_only_the_scorers_its_methods_use(task_file, routers, tmp_path, capsys):  # noqa: F811
    assert calibrate(capsys, task_file, tmp_path / "cal.json", routers[0], shares=(0.2,))[0] == 0
    # query routing calibrates on its own probes: a file without share 0.3 does not stop it
    code = main(["eval", "--task", str(task_file), "--limit", "1", "--methods", "slm,query", "--llm-shares", "0.3",
                 "--calibration", str(tmp_path / "cal.json"), "--out", str(tmp_path / "run"), *FLAGS])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    (["-n", "9"], "calibrated with another max_new_tokens"),
    (["--runner", "eager"], "calibrated with another runner"),
    (["--calibration-size", "5"], "calibrated with another prompts_sha256, records"),
    (["--llm-shares", "0.3"], "no threshold for SLM entropy at LLM share 0.3"),
    (["--router", "{other}"], "no threshold for this router"),
    (["--calibration", "{tmp}/missing.json"], "no such file"),
    (["--calibration", "{tmp}/bogus.json"], "not a calibration file"),
    (["--calibration", "{tmp}/bogus2.json"], "not a calibration file"),
])
def test_a_file_that_does_not_hold_is_refused_in_one_line(task_file, routers, tmp_path, capsys, change, message):  # noqa: F811
    assert calibrate(capsys, task_file, tmp_path / "cal.json", routers[0])[0] == 0
    (tmp_path / "bogus.json").write_text('{"thresholds": {}}')
    (tmp_path / "bogus2.json").write_text('{"format": "r2route-calibration", "key": [], "thresholds": {}}')
    args = {"--task": str(task_file), "--out": str(tmp_path / "run"), "--methods": "entropy,neural", "--router": routers[0],
            "--llm-shares": "0.2", "--calibration": str(tmp_path / "cal.json"), "--limit": "1"}
    for k, v in zip(change[::2], change[1::2]):
        args[k] = v.replace("{other}", routers[1]).replace("{tmp}", str(tmp_path))
    flags = list(FLAGS) + ["--runner", "auto"]
    for k in ("-n", "--calibration-size", "--runner"):
        if k in args:
            flags[flags.index(k) + 1] = args.pop(k)
    code = main(["eval", *[x for kv in args.items() for x in kv], *flags])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run" / "eval-config.json").exists()  # refused before the run directory is claimed


@pytest.mark.parametrize("change, message", [
    (["--out", "{tmp}"], "is a directory"),
    (["-n", "9"], "calibrated with another max_new_tokens"),
    (["--router", "{tmp}/nowhere"], "nowhere"),
])
def test_calibrate_refuses_bad_input_in_one_line(task_file, routers, tmp_path, capsys, change, message):  # noqa: F811
    assert calibrate(capsys, task_file, tmp_path / "cal.json", routers[0])[0] == 0
    change = [c.replace("{tmp}", str(tmp_path)) for c in change]
    out = change[1] if change[0] == "--out" else tmp_path / "cal.json"
    flags = list(FLAGS)
    if change[0] == "-n":
        flags[flags.index("-n") + 1] = change[1]
    extra = [change[1]] if change[0] == "--router" else []
    code, err = calibrate(capsys, task_file, out, *extra, flags=flags)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_generate_routes_entropy_at_the_share_a_calibration_file_gives(task_file, tmp_path, capsys):  # noqa: F811
    """`r2route calibrate` writes the file that `generate --calibration --llm-share` routes with."""
    assert calibrate(capsys, task_file, tmp_path / "cal.json")[0] == 0
    th = json.loads((tmp_path / "cal.json").read_text())["thresholds"]["entropy"]
    for share in SHARES:
        code = main(["generate", "2 + 2?", "--pair", "tiny", "--device", "cpu", "-n", "6", "--calibration", str(tmp_path / "cal.json"),
                     "--llm-share", str(share), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["routing"] == {"strategy": "entropy", "threshold": th[str(share)], "llm_share": share,
                                              "calibration": str(tmp_path / "cal.json")}
    assert th[str(SHARES[0])] > th[str(SHARES[1])]  # a larger share routes from a lower entropy


def test_the_server_routes_a_requests_share_by_its_calibration(pair, task_file, tmp_path, capsys):  # noqa: F811
    """`serve --calibration --llm-share`: the server's share (also for a request that names only its
    strategy), and a request's own `llm_share`, route as the engine does with that calibration's
    threshold for the share."""
    import openai

    from r2route.engine import Engine, GenerationConfig
    from r2route.router import make_strategy
    from r2route.router.calibration import load_calibration
    from r2route.server.launch import running_server

    shares = (0.2, 0.6)
    assert calibrate(capsys, task_file, tmp_path / "cal.json", shares=shares)[0] == 0
    cal = load_calibration(tmp_path / "cal.json")
    msg = [{"role": "user", "content": "Tom has 3 apples and buys 4 more. How many now?"}]
    expected = {}
    for share in shares:
        engine = Engine(pair, make_strategy("entropy", llm_share=share, calibration=cal))
        [res], _ = engine.generate([pair.encode(messages=msg)], GenerationConfig(max_new_tokens=12))
        expected[share] = (res.text, res.stats.llm_tokens)
    assert expected[0.2][1] < expected[0.6][1]  # the shares route differently, so the check below can tell them apart
    with running_server(["--pair", "tiny", "--device", "cpu", "--calibration", str(tmp_path / "cal.json"), "--llm-share", "0.6",
                         "--max-tokens", "12"]) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120)
        for share, routing in ((0.6, None), (0.6, {"strategy": "entropy"}), (0.2, {"llm_share": 0.2})):
            extra = {"extra_body": {"r2route": routing}} if routing else {}
            r = client.chat.completions.create(model="r2route", messages=msg, max_tokens=12, temperature=0, **extra)
            assert (r.choices[0].message.content, r.usage.llm_tokens) == expected[share], routing
