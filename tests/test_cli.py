"""The command line: streaming, --json, and one-line errors with exit code 2 for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from r2route.cli import main
from r2route.router import RouterBundle, RouterConfig, RouterModel, save_router

TINY = ["--pair", "tiny", "--device", "cpu"]
ROOT = Path(__file__).resolve().parents[1]


def run_main(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_json(capsys):
    code, out, err = run_main(capsys, "generate", "What is 2+3?", *TINY, "-n", "12", "--strategy", "random", "--llm-share", "0.5", "--json")
    assert code == 0, err
    obj = json.loads(out)
    for key in ("text", "tokens", "llm_tokens", "llm_share", "avg_params", "tokens_per_s", "seconds", "handoff"):
        assert key in obj
    assert obj["tokens"] == 12 == len(obj["by_llm"])
    assert obj["llm_tokens"] == sum(obj["by_llm"])
    assert obj["handoff"] == "token"
    assert 0 < obj["llm_tokens"] < 12  # with this seed both models write, so the average lies strictly between
    assert obj["pair"]["slm"]["params"] < obj["avg_params"] < obj["pair"]["llm"]["params"]


def test_generate_streams_text_and_prints_stats(capsys):
    code, out, err = run_main(capsys, "generate", "Hello there", *TINY, "-n", "10", "--strategy", "slm")
    assert code == 0
    assert out.strip()
    assert "10 tokens, 0 by the LLM (0.0%)" in err and "tok/s" in err


def test_json_and_stream_agree(capsys):
    args = ("generate", "Same text?", *TINY, "-n", "15", "--strategy", "random", "--llm-share", "0.3", "--seed", "4")
    _, out, _ = run_main(capsys, *args)
    _, js, _ = run_main(capsys, *args, "--json")
    assert out.rstrip("\n") == json.loads(js)["text"]


@pytest.fixture
def router_dir(tmp_path, pair):
    d = pair.slm.model.config.hidden_size
    save_router(RouterBundle(RouterModel(RouterConfig(hidden_size=d, embed_size=d, width=8, depth=1)), pair=pair.identity()), tmp_path / "r")
    return tmp_path / "r"


def test_generate_with_a_router(capsys, router_dir):
    code, out, err = run_main(capsys, "generate", "hi", *TINY, "-n", "5", "--router", str(router_dir), "--threshold", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["llm_tokens"] == 5


def bad_inputs(tmp_path, router_dir):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "router.json").write_text((router_dir / "router.json").read_text())
    (corrupt / "router.safetensors").write_bytes(b"not safetensors")
    other = tmp_path / "other"
    save_router(RouterBundle(RouterModel(RouterConfig(hidden_size=64, embed_size=64, width=8, depth=1)), pair={"slm": "x", "llm": "y", "tokenizer": "z"}), other)
    return [
        (["generate", "", *TINY], "empty prompt"),
        (["generate", "   ", *TINY], "empty prompt"),
        (["generate", "hi", *TINY, "--max-new-tokens", "0"], "max new tokens must be ≥ 1"),
        (["generate", "hi", *TINY, "--max-new-tokens", "-3"], "max new tokens must be ≥ 1"),
        (["generate", "word " * 3000, *TINY], "context window is 2048"),
        (["generate", "hi", "--slm", "./missing-model", "--llm", "./missing-model"], "model not found"),
        (["generate", "hi", *TINY, "--router", str(tmp_path / "nope")], "router not found"),
        (["generate", "hi", *TINY, "--router", str(corrupt)], "corrupt router weights"),
        (["generate", "hi", *TINY, "--router", str(other)], "router was trained for x → y"),
        (["generate", "hi", *TINY, "--threshold", "1.5"], r"--threshold must be in [0, 1]"),
        (["generate", "hi", *TINY, "--strategy", "random", "--llm-share", "2"], r"--llm-share must be in [0, 1]"),
        (["generate", "hi", *TINY, "--strategy", "oracle"], "unknown strategy"),
        (["generate", "hi", *TINY, "--max-new-tokens", "many"], "should be a valid integer"),
        (["generate", "hi", "--pair", "huge"], "unknown pair preset"),
        (["generate", "hi", *TINY, "--temperature", "-1"], "temperature must be ≥ 0"),
        (["generate", "hi", "--pair", "tiny", "--device", "tpu"], "unknown device"),
        (["chat", *TINY, "--max-new-tokens", "0"], "max new tokens must be ≥ 1"),
        # --runner reaches the engine, which refuses a runner of another backend than the model's
        (["generate", "hi", *TINY, "--runner", "llama.cpp"], "the llama.cpp runner runs llama.cpp models"),
        (["serve", *TINY, "--runner", "llama.cpp"], "the llama.cpp runner runs llama.cpp models"),
    ]


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, router_dir):
    for args, msg in bad_inputs(tmp_path, router_dir):
        code, out, err = run_main(capsys, *args)
        assert code == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, err)
        assert msg in lines[0], (args, err)
        assert "Traceback" not in err


def test_entry_point_error_in_a_real_process(tmp_path):
    p = subprocess.run([sys.executable, "-m", "r2route", "generate", "hi", *TINY, "--threshold", "7"], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == ["error: --threshold must be in [0, 1], got 7.0"]


def test_chat_session_in_a_real_process():
    p = subprocess.run(
        [sys.executable, "-m", "r2route", "chat", *TINY, "-n", "6", "--strategy", "random", "--llm-share", "0.5"],
        input="What is 2+2?\n/reset\nAnd 3+3?\n/exit\n", capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("6 tokens") == 2 and "conversation cleared" in p.stderr
    assert p.stdout.count("\n") >= 2


# --- how the routing flags resolve on the default pair (no weights loaded) ----------------------------


def test_shipped_calibration_is_entropys_default_for_the_preset_slm():
    from r2route.cli.options import RoutingFlags, default_calibration
    from r2route.pair import PairConfig
    from r2route.router.shipped import shipped_calibration

    path = shipped_calibration("default")
    assert path is not None, "the default pair's calibration must ship in the package"
    default = PairConfig(pair="default")
    assert default_calibration(default, RoutingFlags()) == str(path)
    assert default_calibration(default, RoutingFlags(strategy="entropy", llm_share=0.1)) == str(path)
    assert default_calibration(default, RoutingFlags(router="none")) == str(path)
    assert default_calibration(default, RoutingFlags(calibration="mine.json")) == "mine.json"
    assert default_calibration(default, RoutingFlags(strategy="random")) is None
    assert default_calibration(default, RoutingFlags(router="some/router")) is None
    assert default_calibration(PairConfig(pair="default", llm="some/other"), RoutingFlags()) == str(path)  # entropy is the SLM's
    assert default_calibration(PairConfig(pair="default", llm_url="http://x/v1"), RoutingFlags()) == str(path)
    assert default_calibration(PairConfig(pair="default", slm="some/other"), RoutingFlags()) is None
    assert default_calibration(PairConfig(pair="tiny"), RoutingFlags()) is None


def test_the_default_pairs_flags_resolve_to_strategies_without_loading_it():
    """What `generate` routes the default pair with, flag by flag: entropy at the threshold the
    frozen replication judged entropy with at a 0.2 share (its own calibration pass over the same
    records), unless a flag asks for something else."""
    from r2route.cli.options import RoutingFlags, routing_strategy
    from r2route.pair import PairConfig
    from r2route.router.strategies import EntropyStrategy, NeuralStrategy, RandomStrategy

    judged = json.loads((ROOT / "results" / "replication" / "eval" / "calibration.json").read_text())["entropy"]
    resolve = lambda **flags: routing_strategy(PairConfig(pair="default"), RoutingFlags(**flags))  # noqa: E731
    plain = resolve()
    assert isinstance(plain, EntropyStrategy) and plain.llm_share == 0.2 and plain.threshold == judged["0.2"]
    assert resolve(llm_share=0.1).threshold == judged["0.1"] and resolve(llm_share=0.15).threshold == judged["0.15"]
    assert resolve(router="none").threshold == judged["0.2"]
    assert resolve(threshold=0.05).threshold == 0.05
    assert isinstance(resolve(strategy="neural"), NeuralStrategy)
    random = resolve(strategy="random", llm_share=0.3)
    assert isinstance(random, RandomStrategy) and random.p == 0.3


def test_a_server_request_may_route_with_the_shipped_router_and_calibration_whatever_it_started_with():
    from types import SimpleNamespace

    from r2route.cli.options import RoutingFlags, request_routing, routing_strategy
    from r2route.pair import PairConfig
    from r2route.router import load_router, shipped_router

    identity = load_router(shipped_router("default")).pair
    stand_in = SimpleNamespace(identity=lambda: identity, device="cpu")  # all request_routing reads of a loaded pair
    cfg = PairConfig(pair="default")
    for flags in ({"strategy": "random", "llm_share": 0.3}, {"strategy": "slm"}, {}, {"strategy": "neural"}):
        routing = RoutingFlags(**flags)
        router, calibration = request_routing(cfg, routing, routing_strategy(cfg, routing), stand_in)
        assert router is not None and calibration is not None, flags
        assert calibration.threshold_for_share(0.2) == routing_strategy(cfg, RoutingFlags()).threshold
    routing = RoutingFlags(router="none")
    router, calibration = request_routing(cfg, routing, routing_strategy(cfg, routing), stand_in)
    assert router is None and calibration is not None
