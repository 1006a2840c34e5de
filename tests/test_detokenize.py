"""Streaming text: multi-byte characters across tokens, and stop strings across token boundaries."""

import pytest

from r2route.engine.detokenize import TextStream, TokenReader
from r2route.pair.presets import tiny_tokenizer


@pytest.fixture(scope="module", params=["tiny_tokenizer", "tiny_tokenizer_sp"])
def tok(request):
    return tiny_tokenizer(request.param)


def stream(tok, ids, stop=()):
    reader, text = TokenReader(tok, []), TextStream(stop)
    pieces = [text.add(reader.add(t)) for t in ids]
    pieces.append(text.finish(reader.flush()))
    return pieces, text


@pytest.mark.parametrize("text", ["Café ☕ costs €5", "日本語のテキスト", "leading and  double  spaces\n\nnewlines", "emoji 🎉🎉 end"])
def test_pieces_join_to_the_full_decode(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces, _ = stream(tok, ids)
    assert "".join(pieces) == tok.decode(ids) == text
    assert not any("\ufffd" in p for p in pieces)


def test_multibyte_character_waits_for_all_its_bytes(tok):
    ids = tok("☕", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1  # a small vocabulary spells it in bytes
    reader = TokenReader(tok, [])
    assert reader.add(ids[0]) in ("", " ") and reader.pending >= 1
    out = "".join(reader.add(t) for t in ids[1:])
    assert out.endswith("☕") and reader.pending == 0


def test_stop_string_across_tokens_is_cut_and_never_streamed(tok):
    text = "The answer is 42. ### more text after"
    pieces, ts = stream(tok, tok(text, add_special_tokens=False)["input_ids"], stop=("###",))
    assert ts.stopped
    assert "".join(pieces) == "The answer is 42. "
    assert not any("#" in p for p in pieces)


def test_earliest_of_several_stop_strings_wins(tok):
    pieces, _ = stream(tok, tok("abc STOP def END", add_special_tokens=False)["input_ids"], stop=("END", "STOP"))
    assert "".join(pieces) == "abc "


def test_held_back_text_is_released_when_no_stop_matches(tok):
    pieces, ts = stream(tok, tok("a #non-stop ## b", add_special_tokens=False)["input_ids"], stop=("###",))
    assert not ts.stopped and "".join(pieces) == "a #non-stop ## b"
