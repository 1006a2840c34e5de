"""Text handoff: splicing another model's text into a token sequence, for both tokenizer kinds."""

import random

import pytest

from r2route.engine.retokenize import common_prefix, decode, encode, incomplete_tail, splice
from r2route.pair.presets import tiny_tokenizer

TEXTS = [
    "Natalia sold 48 clips in April, and then she sold half as many clips in May.",
    "Café ☕ costs €5 — naïve résumé; 日本語のテキスト 🎉🎉!",
    "  two  spaces\n\nnew paragraph\tand a tab.   ",
    "He said: \"x = 3*(4+5)/2\" and then $12.50 + $7 = $19.50",
]


@pytest.fixture(scope="module", params=["bytelevel", "metaspace"])
def tok(request):
    return tiny_tokenizer("tiny_tokenizer" if request.param == "bytelevel" else "tiny_tokenizer_sp")


def prompt(tok):
    return tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]


@pytest.mark.parametrize("text", TEXTS)
def test_any_split_splices_back_to_the_text(tok, text):
    p = list(prompt(tok))
    rng = random.Random(0)
    for _ in range(25):
        i = rng.randrange(0, len(text) + 1)
        head, ok1 = splice(tok, p, len(p), text[:i])
        ids, ok2 = splice(tok, head, len(p), text[i:])
        assert ok1 and ok2
        assert decode(tok, ids) == decode(tok, p) + text
        assert ids[: len(p)] == p  # the prompt is never re-tokenized


def test_routed_piece_merges_with_the_previous_token(tok):
    p = list(prompt(tok))
    whole, _ = splice(tok, p, len(p), " hello")
    head, _ = splice(tok, p, len(p), " hel")
    assert len(whole) < len(head) + len(encode(tok, "lo"))  # "hello" is shorter as one run
    ids, ok = splice(tok, head, len(p), "lo")
    assert ok and ids == whole


def test_multibyte_character_split_across_tokens(tok):
    p = list(prompt(tok))
    coffee, _ = splice(tok, p, len(p), " ☕")
    assert len(coffee) - len(p) >= 2  # a small vocabulary spells it in bytes
    partial = coffee[:-1]
    assert incomplete_tail(tok, partial, len(p)) >= 1
    assert incomplete_tail(tok, coffee, len(p)) == 0
    done = partial[: len(partial) - incomplete_tail(tok, partial, len(p))]
    ids, ok = splice(tok, done, len(p), " ☕ ok")
    assert ok and decode(tok, ids).endswith("☕ ok")


def test_whitespace_runs_survive(tok):
    p = list(prompt(tok))
    ids, _ = splice(tok, p, len(p), "a")
    for piece in ["  ", "b", "\n", "\n ", " c", "   "]:
        ids, ok = splice(tok, ids, len(p), piece)
        assert ok
    assert decode(tok, ids).endswith("a  b\n\n  c   ")


def test_only_a_window_is_retokenized(tok):
    p = list(prompt(tok))
    body, _ = splice(tok, p, len(p), TEXTS[0])
    ids, ok = splice(tok, body, len(p), " More.")
    assert ok and common_prefix(ids, body) >= len(body) - 8


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2]) == 2
