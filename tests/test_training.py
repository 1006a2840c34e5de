"""Router training: curves and calibration, training on separable data, files, and the CLI verb."""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from r2route.cli import main
from r2route.errors import R2RouteError
from r2route.labeling import LabelConfig, build_verifier, llm_writer, run_labeling
from r2route.router import load_router
from r2route.router.strategies import NeuralStrategy, StepView
from r2route.training import TrainConfig, read_labels, train_router_run
from r2route.training.curves import (pr_auc, recall_at_share, roc_auc, routed_at, share_curve, threshold_for_recall,
                                     threshold_for_share)
from r2route.training.trainer import make_inputs, predict

from .conftest import QUESTIONS

# --- curves -------------------------------------------------------------------------------------


def test_threshold_for_recall_is_the_highest_that_reaches_it():
    rng = np.random.default_rng(0)
    s, y = rng.random(1000), rng.random(1000) < 0.2
    for target in (0.5, 0.8, 0.95, 1.0):
        t = threshold_for_recall(s, y, target)
        assert routed_at(s, y, t)["recall"] >= target
        above = s[y][s[y] > t]  # the next threshold up loses a positive and falls below the target
        if len(above):
            assert routed_at(s, y, above.min())["recall"] < target


def test_threshold_for_share_routes_that_share_of_distinct_scores():
    rng = np.random.default_rng(1)
    s = rng.random(2000)
    for share in (0.0, 0.05, 0.123, 0.5, 1.0):
        assert abs(routed_at(s, s > 2, threshold_for_share(s, share))["llm_share"] - share) <= 1 / len(s)


def test_ties_never_push_the_share_over_the_target():
    s = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    assert routed_at(s, s > 0, threshold_for_share(s, 0.4))["llm_share"] == pytest.approx(0.2)


def test_auc_against_pairwise_definitions():
    rng = np.random.default_rng(2)
    s = np.round(rng.random(300), 2)  # ties on purpose
    y = rng.random(300) < 0.3
    pos, neg = s[y], s[~y]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert roc_auc(s, y) == pytest.approx(pairwise)
    perfect = np.r_[np.ones(10), np.zeros(90)]
    assert roc_auc(perfect, perfect > 0) == 1.0 and pr_auc(perfect, perfect > 0) == 1.0
    assert recall_at_share(perfect, perfect > 0, 0.1) == 1.0


def test_share_curve_is_monotone():
    rng = np.random.default_rng(3)
    s, y = rng.random(500), rng.random(500) < 0.1
    c = share_curve(s, y)
    shares = [p["llm_share"] for p in c]
    assert shares == sorted(shares) and all(a["threshold"] >= b["threshold"] for a, b in zip(c, c[1:]))


# --- synthetic label directories ------------------------------------------------------------------

PAIR = {"slm": "tiny-slm@1234", "llm": "tiny-llm@1234", "tokenizer": "x"}


def write_labels(root: Path, n_queries=60, per_query=50, d=16, k=8, seed=0, positives=True, pair=PAIR) -> Path:
    """A label run whose divergent label is a linear function of the hidden state (learnable)."""
    rng = np.random.default_rng(seed)
    n = n_queries * per_query
    hidden = rng.normal(size=(n, d)).astype(np.float16)
    div = (hidden[:, 0].astype(float) + 0.5 * hidden[:, 1] > 1.3).astype(np.int8) if positives else np.zeros(n, np.int8)
    lp = -np.sort(rng.exponential(size=(n, k)), axis=1).astype(np.float16)
    qid = np.repeat(np.arange(n_queries), per_query)
    table = pa.table({
        "query_id": pa.array(qid, pa.int32()),
        "slm_token": pa.array(rng.integers(0, 50, n), pa.int32()),
        "mismatch": pa.array(div.astype(bool) | (rng.random(n) < 0.05)),
        "divergent": pa.array(div),
        "entropy": pa.array(rng.random(n).astype(np.float32)),
        "split": pa.array(np.where(qid % 4 == 0, "val", "train")),
        "hidden": pa.FixedSizeListArray.from_arrays(pa.array(hidden.reshape(-1)), d),
        "topk_logprobs": pa.FixedSizeListArray.from_arrays(pa.array(lp.reshape(-1)), k),
    })
    (root / "shards").mkdir(parents=True)
    pq.write_table(table, root / "shards" / "00000.parquet")
    (root / "dataset.json").write_text(json.dumps({"pair": pair, "shards": ["shards/00000.parquet"]}))
    return root


def test_training_learns_a_separable_rule(tmp_path):
    labels = read_labels(write_labels(tmp_path / "l"))
    cfg = TrainConfig(features=("hidden", "logits"), top_k=8, width=32, depth=1, max_epochs=15, seed=0)
    m = train_router_run(labels, tmp_path / "r", cfg, None, 0, target_recall=0.9, progress=False)
    hist = m["training"]["history"]
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
    assert m["router"]["roc_auc"] > 0.97
    assert m["router"]["roc_auc"] > m["baselines"]["entropy"]["roc_auc"] + 0.3  # the baselines see noise here
    assert (tmp_path / "r" / "pr_curve.png").stat().st_size > 0 and (tmp_path / "r" / "share_vs_recall.png").is_file()


def test_training_is_deterministic(tmp_path):
    labels = read_labels(write_labels(tmp_path / "l"))
    cfg = TrainConfig(features=("hidden",), width=16, depth=1, max_epochs=3)
    a = train_router_run(labels, tmp_path / "a", cfg, None, 0, progress=False)
    b = train_router_run(labels, tmp_path / "b", cfg, None, 0, progress=False)
    assert (tmp_path / "a" / "router.safetensors").read_bytes() == (tmp_path / "b" / "router.safetensors").read_bytes()
    assert a["threshold"] == b["threshold"]


# --- on the tiny pair's own labels ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_labels(pair, tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    data = root / "q.jsonl"
    data.write_text("".join(json.dumps({"question": f"{q} ({i})"}) + "\n" for i in range(8) for q in QUESTIONS[:3]))
    cfg = LabelConfig(data=str(data), max_answer_tokens=24, continuation_tokens=6, keep_truncated=True, chunk=8, val_percent=30)
    writer = llm_writer(pair, cfg.slots)
    run_labeling(pair, cfg, root / "labels", build_verifier("rule", pair, writer), writer=writer, progress=False)
    return root / "labels"


def test_queries_keeps_the_labels_of_the_first_n_queries(tiny_labels):
    full, first = read_labels(tiny_labels), read_labels(tiny_labels, queries=10)
    keep = full.query_id < 10
    assert 0 < keep.sum() < len(full) and np.unique(first.query_id).max() < 10
    assert np.array_equal(first.divergent, full.divergent[keep]) and torch.equal(first.hidden, full.hidden[torch.from_numpy(keep)])


def test_queries_counts_trailing_queries_whose_answers_were_dropped(tiny_labels, tmp_path):
    # a run whose last records' answers had no EOS: read, but no rows; asking for all of them is asking for the run
    root = tmp_path / "labels"
    shutil.copytree(tiny_labels, root)
    meta = json.loads((root / "dataset.json").read_text())
    top = int(read_labels(root).query_id.max()) + 1
    meta["counts"]["queries_read"] = top + 2
    (root / "dataset.json").write_text(json.dumps(meta))
    assert len(read_labels(root, queries=top + 2)) == len(read_labels(root))
    with pytest.raises(R2RouteError, match=f"first {top + 2} queries only"):
        read_labels(root, queries=top + 3)


@pytest.mark.parametrize("target", [{"target_recall": 0.9}, {"target_recall": 0.6}, {"target_share": 0.2}])
def test_calibration_hits_the_target_on_validation(pair, tiny_labels, tmp_path, target):
    labels = read_labels(tiny_labels)
    cfg = TrainConfig(width=32, depth=1, max_epochs=3)
    m = train_router_run(labels, tmp_path / "r", cfg, pair.slm.embed, pair.slm.hidden_size, progress=False, **target)
    got = m["threshold"]
    if "target_recall" in target:
        assert target["target_recall"] <= got["recall"] <= target["target_recall"] + 0.01 + 1 / m["val"]["divergent"]
    else:
        assert abs(got["llm_share"] - target["target_share"]) <= 0.01
    # the saved router gives the very scores it was calibrated on
    bundle = load_router(tmp_path / "r")
    rows = labels.is_val & (labels.divergent >= 0)
    mine = predict(bundle.model, make_inputs(labels, rows, bundle.model.cfg.features, bundle.model.cfg.top_k, pair.slm.embed), int(rows.sum()))
    assert routed_at(mine, labels.divergent[rows] == 1, bundle.threshold) == got
    assert bundle.pair == labels.pair


@pytest.mark.parametrize("ref", ["logsumexp", "max"])
def test_strategy_scores_equal_training_scores(pair, tiny_labels, tmp_path, ref):
    """The features training reads from the label table are the ones decoding builds from logits
    (log-probabilities, or gaps to the top logit with logits_ref='max')."""
    labels = read_labels(tiny_labels)
    train_router_run(labels, tmp_path / "r", TrainConfig(width=32, depth=1, max_epochs=2, logits_ref=ref), pair.slm.embed,
                     pair.slm.hidden_size, progress=False)
    bundle = load_router(tmp_path / "r")
    assert bundle.model.cfg.logits_ref == ref
    rows = np.zeros(len(labels), bool)
    rows[:40] = True
    want = predict(bundle.model, make_inputs(labels, rows, bundle.model.cfg.features, 100, pair.slm.embed, ref), 40)
    # rebuild full logits whose top-k log-probabilities are the stored ones: the rest of the mass is
    # spread evenly over the other tokens (below the k-th, so the top-k set is unchanged)
    V = pair.slm.vocab_size
    top = labels.topk_logprobs[:40].double()
    rest = torch.log((1 - top.exp().sum(1, keepdim=True)).clamp_min(1e-12) / (V - 100))
    assert (rest < top[:, -1:]).all()
    logits = rest.float().expand(40, V).clone()
    ids = torch.stack([torch.randperm(V, generator=torch.Generator().manual_seed(i))[:100] for i in range(40)])
    logits.scatter_(1, ids, labels.topk_logprobs[:40].float())
    view = StepView(logits=logits, hidden=labels.hidden[:40].float(), tokens=labels.slm_token[:40], embed=pair.slm.embed,
                    seeds=torch.zeros(40, dtype=torch.long), positions=torch.zeros(40, dtype=torch.long))
    got = NeuralStrategy(bundle, bundle.threshold).scores(view).numpy()
    np.testing.assert_allclose(got, want, atol=2e-3)


# --- the CLI verb -----------------------------------------------------------------------------------


def run_main(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_trains_ablates_and_generate_uses_the_router(capsys, tiny_labels, tmp_path):
    out = tmp_path / "router"
    code, stdout, err = run_main(capsys, "train-router", "--labels", str(tiny_labels), "--out", str(out), "--pair", "tiny",
                                 "--epochs", "2", "--width", "32", "--ablation", "-q")
    assert code == 0, err
    assert "ablations" in stdout and "entropy" in stdout
    report = json.loads((out / "ablation.json").read_text())
    assert [r["objective"] for r in report["rows"]][:5] == ["divergent"] * 4 + ["mismatch"]
    for f in ("router.json", "router.safetensors", "metrics.json", "pr_curve.png", "share_vs_recall.png"):
        assert (out / f).is_file()
    # each ablation router is saved, calibrated, and routes at a share like the main one
    paper = next(r for r in report["rows"] if r["features"] == ["hidden", "token", "logits"] and r["objective"] == "mismatch")
    bundle = load_router(out / paper["router"])
    assert bundle.model.cfg.features == ("hidden", "token", "logits") and bundle.curve and bundle.metrics["roc_auc"] == paper["roc_auc"]
    code, stdout, err = run_main(capsys, "generate", "Hello there", "--pair", "tiny", "--device", "cpu", "--router", str(out),
                                 "--llm-share", "0.3", "-n", "8")
    assert code == 0, err
    code, _, err = run_main(capsys, "generate", "Hello there", "--pair", "tiny-cross", "--device", "cpu", "--router", str(out), "-n", "4")
    assert code == 2 and "router was trained for" in err and len(err.strip().splitlines()) == 1


def test_seeds_train_one_router_each_and_keep_the_better_of_ensemble_and_best_seed(capsys, pair, tiny_labels, tmp_path):
    from r2route.router.model import RouterEnsemble, members

    out = tmp_path / "router"
    code, stdout, err = run_main(capsys, "train-router", "--labels", str(tiny_labels), "--out", str(out), "--pair", "tiny",
                                 "--epochs", "2", "--width", "32", "--seeds", "0,1,2", "-q")
    assert code == 0, err
    report = json.loads((out / "seeds.json").read_text())
    assert [x["seed"] for x in report["seeds"]] == [0, 1, 2]
    best = max(report["seeds"], key=lambda x: x["pr_auc"])
    ensemble_wins = report["ensemble"]["pr_auc"] >= best["pr_auc"]
    assert report["chosen"] == ("ensemble" if ensemble_wins else f"seed {best['seed']}")
    assert "seed 0" in stdout and "ensemble" in stdout
    saved = load_router(out)
    assert isinstance(saved.model, RouterEnsemble) == ensemble_wins
    assert len(members(saved.model)) == (3 if ensemble_wins else 1)
    chosen = report["ensemble"] if ensemble_wins else best
    assert json.loads((out / "metrics.json").read_text())["router"]["pr_auc"] == pytest.approx(chosen["pr_auc"])
    # every seed is saved on its own, a different router from the others, with the threshold that
    # gives its own validation scores the target recall (0.95, train-router's default)
    from r2route.training.curves import threshold_for_recall
    from r2route.training.run import eval_rows
    from r2route.training.trainer import make_inputs, predict

    labels = read_labels(tiny_labels)
    rows, y_val = eval_rows(labels)
    seed_routers = [load_router(out / "seeds" / f"seed-{s}") for s in (0, 1, 2)]
    for b in seed_routers:
        cfg = b.model.cfg
        scores = predict(b.model, make_inputs(labels, rows, cfg.features, cfg.top_k, pair.slm.embed, cfg.logits_ref), int(rows.sum()))
        assert not isinstance(b.model, RouterEnsemble) and b.threshold == pytest.approx(threshold_for_recall(scores, y_val, 0.95), abs=1e-4)
    assert not torch.equal(seed_routers[0].model.out.weight, seed_routers[1].model.out.weight)


def test_an_ensemble_routes_by_its_members_mean_logit_and_survives_saving(pair, tmp_path):
    from r2route.router import RouterBundle, make_strategy, save_router
    from r2route.router.model import RouterEnsemble, members
    from r2route.router.strategies import StepView

    from .test_engine import tiny_router

    parts = [tiny_router(pair, seed=s).model for s in range(3)]
    save_router(RouterBundle(RouterEnsemble(parts), pair=pair.identity()), tmp_path / "ens")
    bundle = load_router(tmp_path / "ens")
    assert isinstance(bundle.model, RouterEnsemble) and len(members(bundle.model)) == 3
    torch.manual_seed(0)
    n, d = 5, pair.slm.model.config.hidden_size
    view = StepView(torch.randn(n, pair.slm.vocab_size), torch.randn(n, d), torch.tensor([3, 50, 7, 900, 12]), pair.slm.embed,
                    torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long))
    got = make_strategy("neural", threshold=0.5, router=bundle).scores(view)
    each = torch.stack([torch.logit(make_strategy("neural", threshold=0.5, router=RouterBundle(m)).scores(view), eps=1e-7) for m in parts])
    torch.testing.assert_close(got, torch.sigmoid(each.mean(0)), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(each[0], each[1])  # the members differ: the mean is not any one of them


@pytest.mark.parametrize("make, args, message", [
    (lambda p: write_labels(p), ["--seeds", "3"], "--seeds needs two or more"),
    (lambda p: write_labels(p), ["--seeds", "1,x"], "--seeds must be comma-separated"),
    (None, [], "labels directory not found"),
    (lambda p: p.mkdir(), [], "no finished label run"),
    (lambda p: write_labels(p, positives=False), [], "no divergent tokens"),
    (lambda p: write_labels(p), ["--target-recall", "0"], "--target-recall must be in (0, 1]"),
    (lambda p: write_labels(p), ["--target-recall", "1.5"], "--target-recall must be in (0, 1]"),
    (lambda p: write_labels(p), ["--target-recall", "0.9", "--target-llm-share", "0.1"], "not both"),
    (lambda p: write_labels(p), ["--features", "hidden,vibes"], "--features must be"),
    (lambda p: write_labels(p), ["--objective", "vibes"], "unknown objective"),
    (lambda p: write_labels(p, pair={**PAIR, "slm": "other-slm"}), ["--features", "hidden,token"], "were made with SLM other-slm"),
    (lambda p: (write_labels(p), (p / "shards" / "00000.parquet").unlink()), [], "label shards are missing"),
    (lambda p: (write_labels(p), (p / "shards" / "00000.parquet").write_bytes(b"PAR1 garbage")), [], "unreadable label shard"),
])
def test_bad_input_is_one_line(capsys, tmp_path, make, args, message):
    labels = tmp_path / "labels"
    if make:
        make(labels)
    code, _, err = run_main(capsys, "train-router", "--labels", str(labels), "--out", str(tmp_path / "r"), "--pair", "tiny",
                            "--features", "hidden,logits", "--top-k", "8", "--epochs", "1", "-q", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "router.json").exists()


# --- the shipped router -------------------------------------------------------------------------------


def test_shipped_router_is_used_only_by_neural_for_its_pair_as_is():
    from r2route.cli.options import default_router
    from r2route.pair import PairConfig
    from r2route.router.shipped import shipped_router

    path = shipped_router("default")
    assert path is not None, "the default pair's router must ship in the package"
    assert default_router(PairConfig(pair="default"), "neural", None) == str(path)
    assert default_router(PairConfig(pair="default"), None, None) is None  # not the default: it ties entropy
    assert default_router(PairConfig(pair="default"), "entropy", None) is None
    assert default_router(PairConfig(pair="default"), "neural", "elsewhere") == "elsewhere"
    assert default_router(PairConfig(pair="default", slm="some/other"), "neural", None) is None
    assert default_router(PairConfig(pair="tiny"), "neural", None) is None


def test_shipped_router_loads_with_its_pair_and_calibration():
    from r2route.pair.default import REGISTRY_PAIRS
    from r2route.router.shipped import shipped_router

    bundle = load_router(shipped_router("default"))
    assert (bundle.pair["slm"], bundle.pair["llm"]) == REGISTRY_PAIRS["default"]
    shares = [p["llm_share"] for p in bundle.curve]
    assert len(shares) > 50 and shares == sorted(shares)
    assert 0 < bundle.threshold < 1
    assert bundle.metrics["val"]["divergent"] > 0 and bundle.metrics["threshold"]["recall"] >= 0.9
    assert bundle.threshold_for_share(0.15) >= bundle.threshold_for_share(0.3)
