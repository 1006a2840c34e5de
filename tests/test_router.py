"""Router model and files: shapes, ablation switches, round trips, refusals."""

import json

import pytest
import torch

from r2route.errors import R2RouteError
from r2route.router import RouterBundle, RouterConfig, RouterModel, load_router, make_strategy, save_router
from r2route.router.features import from_logprobs, normalized_entropy, topk_logit_features, topk_logprobs


def make(features=("hidden", "token", "logits"), seed=0):
    torch.manual_seed(seed)
    return RouterModel(RouterConfig(hidden_size=16, embed_size=12, top_k=10, width=8, depth=2, features=features)).eval()


def inputs(n=5):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 16, generator=g), torch.randn(n, 12, generator=g), torch.randn(n, 10, generator=g)


@pytest.mark.parametrize("features", [("hidden",), ("hidden", "token"), ("hidden", "token", "logits"), ("logits",)])
def test_feature_switches_change_the_input_width(features):
    m = make(features)
    h, e, k = inputs()
    out = m(h if "hidden" in features else None, e if "token" in features else None, k if "logits" in features else None)
    assert out.shape == (5,)
    widths = {"hidden": 16, "token": 12, "logits": 4 * 0 + m.cfg.logits_proj}
    assert m.inp.in_features == sum(widths[f] for f in features)


def test_bad_feature_names_are_refused():
    with pytest.raises(R2RouteError, match="subset"):
        RouterConfig(hidden_size=4, embed_size=4, features=("hidden", "attention"))


def test_save_load_round_trip_gives_identical_scores(tmp_path):
    m = make()
    bundle = RouterBundle(m, threshold=0.3, pair={"slm": "a", "llm": "b", "tokenizer": "t"},
                          curve=[{"threshold": 0.1, "llm_share": 0.4, "recall": 0.99}, {"threshold": 0.6, "llm_share": 0.1, "recall": 0.8}])
    save_router(bundle, tmp_path / "r")
    loaded = load_router(tmp_path / "r")
    h, e, k = inputs()
    with torch.no_grad():
        assert torch.equal(m(h, e, k), loaded.model(h, e, k))
    assert loaded.threshold == 0.3 and loaded.pair == bundle.pair
    assert loaded.threshold_for_share(0.2) == 0.6
    assert loaded.threshold_for_share(0.5) == 0.1
    assert load_router(tmp_path / "r" / "router.json").threshold == 0.3


def test_router_for_another_pair_is_refused(tmp_path):
    bundle = RouterBundle(make(), pair={"slm": "a", "llm": "b", "tokenizer": "t"})
    with pytest.raises(R2RouteError, match="trained for a → b"):
        bundle.check_pair({"slm": "a", "llm": "c", "tokenizer": "t"})
    bundle.check_pair({"slm": "a", "llm": "b", "tokenizer": "t"})


def test_missing_and_corrupt_router_files(tmp_path):
    with pytest.raises(R2RouteError, match="router not found"):
        load_router(tmp_path / "nope")
    save_router(RouterBundle(make()), tmp_path / "r")
    (tmp_path / "r" / "router.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(R2RouteError, match="corrupt router weights"):
        load_router(tmp_path / "r")
    save_router(RouterBundle(make()), tmp_path / "r")
    (tmp_path / "r" / "router.json").write_text("{not json")
    with pytest.raises(R2RouteError, match="corrupt router config"):
        load_router(tmp_path / "r")
    save_router(RouterBundle(make()), tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    meta["config"]["width"] = 9
    (tmp_path / "r" / "router.json").write_text(json.dumps(meta))
    with pytest.raises(R2RouteError, match="do not match its config"):
        load_router(tmp_path / "r")
    (tmp_path / "r" / "router.safetensors").unlink()
    with pytest.raises(R2RouteError, match="router file missing"):
        load_router(tmp_path / "r")


def test_features():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]])
    ent = normalized_entropy(logits)
    assert ent[0].item() == pytest.approx(1.0) and ent[1].item() == pytest.approx(0.0, abs=1e-6)
    top = topk_logprobs(logits, 2)
    assert top.shape == (2, 2) and torch.all(top[:, 0] >= top[:, 1])


def test_gap_features_equal_log_probability_gaps():
    """logits_ref='max' reads gaps to the top logit from the block top-k alone; a label table holds
    log-probabilities, from which training derives the same gaps (the log-sum-exp cancels)."""
    logits = torch.randn(3, 50_000, generator=torch.Generator().manual_seed(0)) * 4
    gaps = topk_logit_features(logits, 20, "max")
    assert torch.all(gaps[:, 0] == 0) and torch.all(gaps[:, :-1] >= gaps[:, 1:])
    torch.testing.assert_close(gaps, from_logprobs(topk_logprobs(logits, 20), "max"), atol=1e-4, rtol=0)
    torch.testing.assert_close(gaps, logits.topk(20).values - logits.amax(-1, keepdim=True))
    assert topk_logit_features(logits, 20, "logsumexp").equal(topk_logprobs(logits, 20))


def test_logits_ref_is_checked():
    with pytest.raises(R2RouteError, match="logits_ref"):
        RouterConfig(hidden_size=8, embed_size=8, logits_ref="mean")


@pytest.mark.parametrize("kwargs, msg", [
    ({"name": "magic"}, "unknown strategy"),
    ({"name": "entropy", "threshold": 1.5}, r"--threshold must be in \[0, 1\]"),
    ({"name": "random", "llm_share": -0.1}, r"--llm-share must be in \[0, 1\]"),
    ({"name": "neural"}, "needs a trained router"),
    ({"name": "entropy", "llm_share": 0.2}, "needs a calibration"),
    ({"name": "random", "threshold": 0.2}, "takes --llm-share"),
    ({"name": "entropy", "threshold": 0.2, "llm_share": 0.1}, "not both"),
])
def test_strategy_settings_are_checked(kwargs, msg):
    with pytest.raises(R2RouteError, match=msg):
        make_strategy(**kwargs)


def test_neural_llm_share_uses_the_calibration_curve():
    bundle = RouterBundle(make(), curve=[{"threshold": 0.2, "llm_share": 0.3, "recall": 1.0}, {"threshold": 0.7, "llm_share": 0.05, "recall": 0.7}])
    assert make_strategy("neural", llm_share=0.1, router=bundle).threshold == 0.7
    with pytest.raises(R2RouteError, match="no calibration curve"):
        make_strategy("neural", llm_share=0.1, router=RouterBundle(make()))


@pytest.mark.parametrize("shape, k, sliced", [((1, 151936), 100, False), ((4, 151937), 100, False), ((3, 151936), 100, True),
                                               ((3, 1000), 5, False), ((2, 300), 100, False), ((2, 64), 10, False)])
def test_block_topk_equals_topk(shape, k, sliced):
    from r2route.router.features import topk_values_and_max

    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g) * 4
    if sliced:  # the engine hands over logits[:, :vocab] of a wider row
        x = torch.randn(shape[0], shape[1] + 7, generator=g)[:, : shape[1]] * 4
    x[0, :50] = x[0, 0]  # ties
    vals, m = topk_values_and_max(x, k)
    assert torch.equal(vals, x.topk(k, dim=-1).values)
    assert torch.equal(m, x.amax(dim=-1, keepdim=True))
    # the fused log-sum-exp gives log_softmax's numbers
    ref = torch.log_softmax(x.double(), dim=-1).topk(k, dim=-1).values
    assert torch.allclose(topk_logprobs(x, k).double(), ref, atol=1e-4)


@pytest.mark.parametrize("n_members", [1, 3])
@pytest.mark.parametrize("features", [("hidden",), ("token",), ("logits",), ("hidden", "token"), ("hidden", "token", "logits")])
def test_folded_router_scores_like_the_module(features, n_members):
    """A router, or an ensemble's mean logit, folded into one set of ops gives the module's scores."""
    from r2route.router.folded import FoldedRouter
    from r2route.router.model import RouterEnsemble

    parts = [make(features, seed=3 + i) for i in range(n_members)]
    with torch.no_grad():  # trained-looking norms: folding a unit scale and zero shift would prove little
        for p in (p for part in parts for p in part.parameters()):
            p.add_(torch.randn_like(p) * 0.5)
    m = parts[0] if n_members == 1 else RouterEnsemble(parts).eval()
    table = torch.randn(50, 12, generator=torch.Generator().manual_seed(2))
    looked_up = []

    def embed(ids):
        looked_up.append(ids.tolist())
        return table[ids]

    h, _, k = inputs(6)
    folded = FoldedRouter(m)
    for ids in ([3, 7, 3, 9, 0, 7], [7, 8, 9, 1, 1, 3]):
        tok = torch.tensor(ids)
        ref = m(h if "hidden" in features else None, table[tok] if "token" in features else None, k if "logits" in features else None)
        got = folded(h if "hidden" in features else None, tok, embed, k if "logits" in features else None)
        assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)
    if "token" in features:  # each distinct id is embedded once, then served from the cache
        assert looked_up == [[3, 7, 9, 0], [8, 1]]


def test_greedy_is_torch_argmax_with_ties_and_strided_rows():
    from r2route.engine.sampling import greedy

    x = torch.randn(4, 1003, generator=torch.Generator().manual_seed(0))
    x[1, 5] = x[1, 700] = 50.0  # a tie: the first index wins, as in torch
    wide = torch.cat([x, torch.full((4, 9), 99.0)], dim=1)
    assert greedy(x) == torch.argmax(x, dim=-1).tolist() and greedy(x)[1] == 5
    assert greedy(wide[:, :1003]) == greedy(x)


def test_a_folded_router_follows_its_inputs_to_another_device(pair):
    """The CLI folds a router where it was loaded (the CPU) and moves the model to the pair's device
    afterwards: the strategy's folded weights must follow the step's inputs there."""
    from r2route.router import make_strategy
    from r2route.router.strategies import StepView

    from .test_engine import tiny_router

    strategy = make_strategy("neural", threshold=0.5, router=tiny_router(pair))
    assert strategy.scorer.device.type == "cpu"
    meta = torch.device("meta")  # stands in for a GPU: any op mixing it with CPU tensors fails
    n, d = 3, pair.slm.model.config.hidden_size
    embed = lambda ids: torch.zeros(len(ids), d, device=meta)  # noqa: E731
    view = StepView(torch.zeros(n, 1024, device=meta), torch.zeros(n, d, device=meta), torch.zeros(n, dtype=torch.long, device=meta),
                    embed, torch.zeros(n, dtype=torch.long, device=meta), torch.zeros(n, dtype=torch.long, device=meta))
    scores = strategy.scores(view)
    assert scores.device == meta and scores.shape == (n,)
    assert strategy.scorer.device == meta


# --- entropy at a target share, from a calibration file -------------------------------------------------


PAIR = {"slm": "some-slm", "llm": "some-llm", "tokenizer": "0123"}


def write_calibration(path, thresholds, pair=PAIR, records=(0, 1)):
    """A calibration file in the shape `r2route calibrate` writes (only the parts routing reads)."""
    path.write_text(json.dumps({"format": "r2route-calibration", "key": {"pair": pair, "records": list(records)},
                                "thresholds": {"entropy": {str(s): t for s, t in thresholds.items()}}, "routers": {},
                                "tokens": 40, "seconds": 1.0}))
    return path


def test_entropy_at_a_share_takes_the_calibrated_threshold(tmp_path):
    from r2route import defaults
    from r2route.router.calibration import load_calibration

    cal = load_calibration(write_calibration(tmp_path / "c.json", {0.1: 0.07, 0.2: 0.035, 0.3: 0.02}))
    assert make_strategy("entropy", llm_share=0.1, calibration=cal).threshold == 0.07
    assert make_strategy("entropy", llm_share=0.3, calibration=cal).threshold == 0.02
    assert make_strategy("entropy", llm_share=0.203, calibration=cal).threshold == 0.035  # within half a 0.01 step
    default = make_strategy("entropy", calibration=cal)
    assert default.threshold == {0.1: 0.07, 0.2: 0.035, 0.3: 0.02}[defaults.ENTROPY_LLM_SHARE]
    assert default.describe() == {"strategy": "entropy", "threshold": default.threshold, "llm_share": defaults.ENTROPY_LLM_SHARE,
                                  "calibration": str(tmp_path / "c.json")}
    assert make_strategy("entropy", threshold=0.5, calibration=cal).threshold == 0.5  # an explicit threshold wins
    assert make_strategy("entropy").threshold == defaults.ENTROPY_THRESHOLD  # no calibration: the fixed default
    with pytest.raises(R2RouteError, match="calibrates SLM entropy at LLM shares 0.1–0.3 .3 of them., not 0.25"):
        make_strategy("entropy", llm_share=0.25, calibration=cal)
    for share, strategy in ((0.0, "slm"), (1.0, "llm")):
        with pytest.raises(R2RouteError, match=f"needs no calibration: use --strategy {strategy}"):
            make_strategy("entropy", llm_share=share, calibration=cal)
    assert make_strategy("random", llm_share=0.3, calibration=cal).p == 0.3  # only entropy reads a calibration


def _calibration(**change):
    d = {"format": "r2route-calibration", "key": {"pair": PAIR, "records": [0]}, "thresholds": {"entropy": {"0.2": 0.5}}, "tokens": 1}
    return json.dumps(d | change)


@pytest.mark.parametrize("content, msg", [
    (None, "calibration file not found"),
    (_calibration(key={"pair": None, "records": [0]}), "names no SLM and tokenizer"),
    (_calibration(key={"pair": {"llm": "x"}, "records": [0]}), "names no SLM and tokenizer"),
    (_calibration(thresholds={"entropy": {"1.5": 0.1}}), r"a share outside \(0, 1\)"),
    (_calibration(thresholds={"entropy": {"0.2": float("nan")}}), "not a number"),
    ("{not json", "not a calibration file"),
    (json.dumps({"format": "r2route-router"}), "not written by r2route calibrate"),
    (json.dumps({"format": "r2route-calibration", "key": {"pair": {}, "records": []}, "thresholds": {"router:ab": {"0.2": 0.5}},
                 "tokens": 1}), "holds no entropy thresholds"),
    (json.dumps({"format": "r2route-calibration", "key": {"pair": {}, "records": []}, "thresholds": {"entropy": {}},
                 "tokens": 1}), "holds no entropy thresholds"),
])
def test_a_bad_calibration_file_is_one_line(tmp_path, content, msg):
    from r2route.router.calibration import load_calibration

    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(R2RouteError, match=msg) as e:
        load_calibration(path)
    assert "\n" not in str(e.value)


def test_a_calibration_of_another_slm_is_refused_and_another_llm_is_not(tmp_path, pair):
    from r2route.router.calibration import load_calibration

    for key in ("slm", "tokenizer"):
        cal = load_calibration(write_calibration(tmp_path / f"{key}.json", {0.2: 0.03}, pair=dict(pair.identity(), **{key: "other"})))
        with pytest.raises(R2RouteError, match=f"was measured on .* {key} differs"):
            cal.check_pair(pair.identity())
    # the LLM takes no part in entropy's thresholds: the SLM's file serves it with any LLM
    load_calibration(write_calibration(tmp_path / "llm.json", {0.2: 0.03}, pair=dict(pair.identity(), llm="other"))).check_pair(pair.identity())


def test_shipped_calibration_covers_every_share_for_its_pair():
    from r2route.pair.default import REGISTRY_PAIRS
    from r2route.router.calibration import load_calibration
    from r2route.router.shipped import shipped_calibration
    from r2route.training.curves import SHARE_GRID

    cal = load_calibration(shipped_calibration("default"))
    assert (cal.pair["slm"], cal.pair["llm"]) == REGISTRY_PAIRS["default"]
    assert sorted(cal.thresholds) == list(SHARE_GRID)
    th = [cal.thresholds[s] for s in SHARE_GRID]
    assert th == sorted(th, reverse=True) and 0 < th[-1] and th[0] < 1  # more share, lower threshold
    assert cal.records >= 128 and cal.tokens > 100 * cal.records  # GSM8K train records, whole answers
