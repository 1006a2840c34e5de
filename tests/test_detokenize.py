"""Streaming text: multi-byte characters across tokens, and stop strings across token boundaries."""

import pytest

from r2route.engine.detokenize import IncrementalDetokenizer
from r2route.pair.presets import tiny_tokenizer


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def stream(tok, ids, stop=()):
    d = IncrementalDetokenizer(tok, [], stop)
    pieces = [d.add(t) for t in ids]
    pieces.append(d.finish())
    return pieces, d


@pytest.mark.parametrize("text", ["Café ☕ costs €5", "日本語のテキスト", " leading and  double  spaces\n\nnewlines", "emoji 🎉🎉 end"])
def test_pieces_join_to_the_full_decode(tok, text):
    ids = tok(text)["input_ids"]
    pieces, _ = stream(tok, ids)
    assert "".join(pieces) == tok.decode(ids) == text
    assert not any("\ufffd" in p for p in pieces)


def test_multibyte_character_waits_for_all_its_bytes(tok):
    ids = tok("☕")["input_ids"]
    assert len(ids) > 1  # a byte-level tokenizer with a small vocabulary splits it
    pieces, _ = stream(tok, ids)
    assert pieces[:-1].count("") >= 1 and "".join(pieces) == "☕"


def test_stop_string_across_tokens_is_cut_and_never_streamed(tok):
    text = "The answer is 42. ### more text after"
    ids = tok(text)["input_ids"]
    pieces, d = stream(tok, ids, stop=("###",))
    assert d.stopped
    assert "".join(pieces) == "The answer is 42. "
    assert not any("#" in p for p in pieces)


def test_earliest_of_several_stop_strings_wins(tok):
    ids = tok("abc STOP def END")["input_ids"]
    pieces, _ = stream(tok, ids, stop=("END", "STOP"))
    assert "".join(pieces) == "abc "


def test_held_back_text_is_released_when_no_stop_matches(tok):
    ids = tok("a #non-stop ## b")["input_ids"]
    pieces, d = stream(tok, ids, stop=("###",))
    assert not d.stopped and "".join(pieces) == "a #non-stop ## b"
