"""The outcome verifier: its rules on hand-made text, and its branches on the tiny pair against a
from-scratch greedy reference."""

import json

import pytest
import torch

from r2route.labeling import LabelConfig, build_verifier, llm_writer, run_labeling
from r2route.labeling.outcome import final_answer, rejoined, same_answer

from .conftest import QUESTIONS

REF = " 48 / 2 = 24 clips in May. So she sold 48 + 24 = 72 clips in total. The answer is \\boxed{72}."


@pytest.mark.parametrize("branch, tail, expected", [
    # reworded, then the reference's own text with the same numbers before it: re-joined
    (" 48 divided by 2 = 24 clips in May. So she sold", " So she sold", True),
    # the same words after a different number are a different computation
    (" 48 / 2 = 25 clips in May. So she sold", " So she sold", False),
    # a tail the reference never says
    (" 48 / 2 = 24 clips in June", " clips in June", False),
    # whitespace or punctuation alone never re-joins
    (" 48 / 2 = 24 clips in May.", ".", False),
    # the tail must be the branch's end
    (" So she sold 48 + 24", " So she sold", False),
    # a tail that the reference says twice: the occurrence whose numbers match counts
    (" 48 / 2 = 24 clips in May. So she sold 48 + 24 = 72 clips", " clips", True),
])
def test_rejoin_rule(branch, tail, expected):
    assert rejoined(branch, tail, REF) is expected


@pytest.mark.parametrize("text, answer", [
    (REF, "72"),
    ("so \\boxed{\\frac{1}{2}} and later \\boxed{3}", "3"),
    ("nested \\boxed{\\sqrt{x^{2}}}", "\\sqrt{x^{2}}"),
    ("No box: 3 apples cost $1,200.50 in total", "1200.5"),
    ("no answer here", None),
])
def test_final_answer(text, answer):
    assert final_answer(text) == answer


@pytest.mark.parametrize("a, b, same", [
    ("72", "72.0", True), ("\\$18", "18", True), ("1,234", "1234", True), ("\\frac{1}{2}", "0.5", True),
    ("72", "73", False), ("72", None, False), (None, None, True), ("x+1", "1+x", True), ("10\\%", "10", True),
])
def test_same_answer(a, b, same):
    assert same_answer(a, b) is same


@pytest.fixture(scope="module")
def outcome_run(pair, tmp_path_factory):
    root = tmp_path_factory.mktemp("outcome")
    data = root / "q.jsonl"
    data.write_text("".join(json.dumps({"question": q}) + "\n" for q in QUESTIONS[:3]))
    cfg = LabelConfig(data=str(data), keep_truncated=True, max_answer_tokens=24, continuation_tokens=20, max_mismatches=4, chunk=3)
    writer = llm_writer(pair, cfg.slots)
    ver = build_verifier("outcome", pair, writer)
    run_labeling(pair, cfg, root / "run", ver, writer=writer, progress=False)
    return root / "run"


def test_branches_are_the_llms_greedy_text_to_the_end_or_the_rejoin(pair, outcome_run):
    answers = {r["id"]: r for r in json.loads((outcome_run / "answers" / "00000.json").read_text())["answers"]}
    items = json.loads((outcome_run / "continuations" / "00000.json").read_text())["items"]
    verdicts = json.loads((outcome_run / "verdicts" / "00000.json").read_text())["verdicts"]
    assert len(items) == len(verdicts) > 0
    tok, eos = pair.tokenizer, sorted(pair.eos_token_ids("llm"))
    decode = lambda ids: tok.decode([t for t in ids if t not in eos], skip_special_tokens=True, clean_up_tokenization_spaces=False)  # noqa: E731
    for it, verdict in zip(items, verdicts):
        rec = answers[it["query_id"]]
        i = it["position"]
        if it["slm_token"] in eos:
            continue
        ctx = rec["prompt"] + rec["answer"][:i] + [it["slm_token"]]
        ids = torch.tensor([ctx])
        gen = pair.llm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=19, do_sample=False,
                                      eos_token_id=eos, pad_token_id=0)[0, len(ctx):].tolist()
        prefix = decode(rec["answer"][:i])
        full = decode(rec["answer"][:i] + [it["slm_token"]] + gen)
        # the branch is the greedy text, stopped early only where the rejoin rule held
        greedy = full[len(prefix):]
        assert greedy.startswith(it["candidate"])
        assert (it["candidate"] == greedy) is (not it["rejoined"])  # cut short exactly where it re-joined
        whole = decode(rec["answer"])
        assert it["reference_final"] == final_answer(whole)
        if it["rejoined"]:
            assert verdict == 0
        elif not it["ended"]:
            assert verdict == 1 and len(gen) == 19 and eos[0] not in gen
        else:
            assert verdict == int(not same_answer(final_answer(prefix + it["candidate"]), it["reference_final"]))


def test_outcome_run_records_its_verifier(outcome_run):
    cfg = json.loads((outcome_run / "label-config.json").read_text())
    assert cfg["verifier"] == {"verifier": "outcome", "rejoin_tokens": 8}


def test_reused_answers_are_the_other_runs_and_are_not_generated_again(pair, tmp_path, monkeypatch):
    import r2route.labeling.pipeline as pipeline
    from r2route.errors import R2RouteError

    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"question": q}) + "\n" for q in QUESTIONS[:3]))
    cfg = LabelConfig(data=str(data), keep_truncated=True, max_answer_tokens=16, continuation_tokens=8, max_mismatches=2, chunk=2)
    writer = llm_writer(pair, cfg.slots)
    run_labeling(pair, cfg, tmp_path / "rule", build_verifier("rule", pair, writer), writer=writer, progress=False)

    def no_answers(*a, **k):
        raise AssertionError("answers were generated again")

    monkeypatch.setattr(pipeline, "answer_chunk", no_answers)
    run_labeling(pair, cfg, tmp_path / "outcome", build_verifier("outcome", pair, writer), writer=writer, progress=False,
                 reuse_answers=tmp_path / "rule")
    for p in sorted((tmp_path / "rule" / "answers").glob("*.json")):
        assert (tmp_path / "outcome" / "answers" / p.name).read_bytes() == p.read_bytes()
    other = LabelConfig(**{**cfg.__dict__, "max_answer_tokens": 20})
    with pytest.raises(R2RouteError, match="max_answer_tokens differ"):
        run_labeling(pair, other, tmp_path / "third", build_verifier("rule", pair, writer), writer=writer, progress=False,
                     reuse_answers=tmp_path / "rule")
