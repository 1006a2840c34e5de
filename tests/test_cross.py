"""Text handoff on the tiny-cross pair (byte-level BPE SLM, SentencePiece-style LLM)."""

import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.engine.detokenize import TokenReader
from r2route.engine.retokenize import decode, splice
from r2route.draws import ROUTE_DRAW, uniform_at
from r2route.pair import PairConfig, load_pair
from r2route.router import make_strategy

N = 30
QUESTIONS = ["Natalia sold clips to 48 of her friends in April.", "Weng earns $12 an hour. Café ☕?", "hi"]


@pytest.fixture(scope="module")
def cross():
    return load_pair(PairConfig(pair="tiny-cross", device="cpu"))


@pytest.fixture(scope="module")
def prompts(cross):
    return [cross.encode(q) for q in QUESTIONS]


def greedy_text(lm, ids, n=N):
    with torch.no_grad():
        out = lm.model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=None)
    return lm.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)


def run(pair, strategy, prompts, **gen):
    return Engine(pair, strategy).generate(prompts, GenerationConfig(max_new_tokens=N, ignore_eos=True, **gen))


def argmax_next(model, seq):
    with torch.no_grad():
        return int(model(torch.tensor([seq])).logits[0, -1].argmax())


def reference_cross(pair, prompt, p, seed, n=N):
    """Text handoff without caches: each model re-reads its whole sequence at every step.

    Each model's own tokens are appended as written; before a model runs, the text the other model
    wrote since its last turn is spliced into its sequence (tokens of an unfinished character
    dropped). When the SLM has nothing new to read (the LLM is inside a character), the LLM goes on
    without a routing draw. Each routing draw is seeded by the write's index. The last writer's
    unfinished bytes are flushed at the end.
    """
    models = {"slm": pair.slm, "llm": pair.llm}
    seq = {"slm": list(prompt.slm), "llm": list(prompt.llm)}
    start = {side: len(seq[side]) for side in seq}
    reader = {side: TokenReader(models[side].tokenizer, seq[side]) for side in seq}
    covered = {"slm": 0, "llm": 0}
    text, by_llm, last_read = "", [], None

    def catch_up(side):
        if covered[side] < len(text):
            keep = len(seq[side]) - reader[side].pending
            seq[side], _ = splice(models[side].tokenizer, seq[side][:keep], start[side], text[covered[side]:])
            reader[side] = TokenReader(models[side].tokenizer, seq[side])
            covered[side] = len(text)

    def write(side, tok):
        nonlocal text
        seq[side].append(tok)
        text += reader[side].add(tok)
        covered[side] = len(text)
        by_llm.append(side == "llm")

    for _ in range(n):
        catch_up("slm")
        if seq["slm"] == last_read:
            routed, tok = True, None
        else:
            last_read = list(seq["slm"])
            tok = argmax_next(pair.slm.model, seq["slm"])
            routed = uniform_at(seed, len(prompt.slm) + len(by_llm), ROUTE_DRAW) < p
        if routed:
            catch_up("llm")
            write("llm", argmax_next(pair.llm.model, seq["llm"]))
        else:
            write("slm", tok)
    # At the end, the last writer's unfinished bytes are released (as U+FFFD), as a plain decode would.
    return text + reader["llm" if by_llm[-1] else "slm"].flush(), by_llm


def test_pair_uses_text_handoff(cross):
    assert cross.handoff == "text" and "token id" in cross.handoff_reason
    assert len(cross.slm.tokenizer) != len(cross.llm.tokenizer)


@pytest.mark.parametrize("strategy, share, side", [("slm", None, "slm"), ("random", 0.0, "slm"), ("llm", None, "llm"), ("random", 1.0, "llm")])
def test_routing_nothing_or_everything_is_one_models_greedy_text(cross, prompts, strategy, share, side):
    strat = make_strategy(strategy) if share is None else make_strategy(strategy, llm_share=share)
    results, stats = run(cross, strat, prompts)
    for p, r in zip(prompts, results):
        assert r.text == greedy_text(getattr(cross, side), getattr(p, side))
        assert r.by_llm == [side == "llm"] * len(r.by_llm)
    assert (stats.llm_calls == 0) == (side == "slm")


def test_batch_equals_alone_across_tokenizers(cross, prompts):
    strat = make_strategy("random", llm_share=0.4)
    batch, _ = run(cross, strat, prompts, seed=2)
    for p, r in zip(prompts, batch):
        alone, _ = run(cross, strat, [p], seed=2)
        assert (alone[0].text, alone[0].by_llm) == (r.text, r.by_llm)


def test_result_token_ids_spell_the_text_in_the_slm_vocabulary(cross, prompts):
    results, _ = run(cross, make_strategy("random", llm_share=0.5), prompts[:1], seed=1)
    r = results[0]
    spelled = decode(cross.slm.tokenizer, r.token_ids).rstrip("\ufffd")
    assert spelled and r.text.startswith(spelled)
    assert set(r.text[len(spelled):]) <= {"\ufffd"}  # at most an unfinished last character


def test_token_ids_prompt_is_refused_for_a_text_pair(cross):
    sess = Engine(cross, make_strategy("slm")).session()
    with pytest.raises(ValueError, match="PairPrompt"):
        sess.submit(0, [1, 2, 3], GenerationConfig())


@pytest.mark.parametrize("run, text, still_open", [
    (1, "Nat", True),  # inside a word
    (2, "alia", True),
    (2, " sold", False),  # it began the next word
    (1, " Nat", True),  # a first token may start a word and go on
    (1, "42.", False),  # punctuation ends a piece
    (1, "so ", False),  # so does whitespace
    (4, "xyz", False),  # the cap
    (1, "", False),
])
def test_word_piece_boundary_rule(run, text, still_open):
    from r2route.engine.handoff import TextHandoff

    assert TextHandoff._piece_open(run, text, 4) is still_open


def test_word_pieces_let_the_llm_finish_its_word(cross, prompts):
    cfg = GenerationConfig(max_new_tokens=60, ignore_eos=True, seed=3)
    strat = make_strategy("random", llm_share=0.3)
    words, _ = Engine(cross, strat, piece="word").generate(prompts, cfg)
    tokens, _ = Engine(cross, strat).generate(prompts, cfg)

    def longest_llm_run(by_llm):
        best = cur = 0
        for b in by_llm:
            cur = cur + 1 if b else 0
            best = max(best, cur)
        return best

    assert max(longest_llm_run(r.by_llm) for r in words) >= 2
    assert [r.text for r in words] != [r.text for r in tokens]  # the option changes behaviour
    with pytest.raises(Exception, match="unknown handoff piece"):
        Engine(cross, strat, piece="sentence").generate(prompts[:1], cfg)
