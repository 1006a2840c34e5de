"""Loading pairs: specs, presets, tokenizer identity, parameter counts."""

import json

import pytest
import torch

from r2route.errors import R2RouteError
from r2route.pair import PairConfig, count_params, first_difference, load_pair, parse_spec, tokenizer_fingerprint
from r2route.pair.presets import tiny_tokenizer


def test_tiny_pair_is_deterministic_and_sized(pair):
    again = load_pair(PairConfig(pair="tiny", device="cpu"))
    for a, b in ((pair.slm, again.slm), (pair.llm, again.llm)):
        for (n1, p1), (n2, p2) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
            assert n1 == n2 and torch.equal(p1, p2)
    assert pair.llm.params.total > pair.slm.params.total
    assert pair.handoff == "token"
    assert pair.identity() == again.identity()


def test_param_counts_exclude_embeddings(pair):
    m = pair.slm.model
    emb = m.get_input_embeddings().weight.numel()
    c = count_params(m)
    assert c.total == sum(p.numel() for p in m.parameters())
    assert c.non_embedding == c.total - emb  # tied head counted once


def test_local_directory_pair_loads_and_matches(pair, tmp_path):
    for name, lm in (("slm", pair.slm), ("llm", pair.llm)):
        lm.model.save_pretrained(tmp_path / name)
        lm.tokenizer.save_pretrained(tmp_path / name)
    loaded = load_pair(PairConfig(pair=None, slm=str(tmp_path / "slm"), llm=str(tmp_path / "llm"), device="cpu"))
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert torch.allclose(loaded.llm.model(ids).logits, pair.llm.model(ids).logits)
    assert loaded.slm.params.total == pair.slm.params.total


def test_different_tokenizers_are_refused_naming_the_token(tmp_path):
    tok = tiny_tokenizer()
    tok.save_pretrained(tmp_path / "t")
    data = json.loads((tmp_path / "t" / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    a = next(t for t, i in vocab.items() if i == 500)
    b = next(t for t, i in vocab.items() if i == 700)
    vocab[a], vocab[b] = 700, 500  # same tokens, two ids swapped
    (tmp_path / "t" / "tokenizer.json").write_text(json.dumps(data))
    from transformers import AutoTokenizer

    other = AutoTokenizer.from_pretrained(tmp_path / "t")
    diff = first_difference(tok, other)
    assert "token id 500" in diff and repr(b) in diff
    assert tokenizer_fingerprint(tok) != tokenizer_fingerprint(other)
    assert first_difference(tok, tiny_tokenizer()) is None


@pytest.mark.parametrize("spec, msg", [
    ("", "empty model spec"),
    ("./no/such/dir", "model not found"),
    ("/tmp/definitely-missing.gguf", "model file not found"),
    ("not a hub id!", "model not found"),
])
def test_bad_specs(spec, msg):
    with pytest.raises(R2RouteError, match=msg):
        parse_spec(spec)


def test_spec_kinds(tmp_path):
    assert parse_spec("Qwen/Qwen2.5-1.5B-Instruct").kind == "hub"
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    s = parse_spec(str(tmp_path / "m.gguf"))
    assert (s.kind, s.gguf_file) == ("gguf", "m.gguf")
    (tmp_path / "d").mkdir()
    with pytest.raises(R2RouteError, match="no config.json"):
        parse_spec(str(tmp_path / "d"))


def test_unknown_preset_and_missing_model():
    with pytest.raises(R2RouteError, match="unknown pair preset"):
        load_pair(PairConfig(pair="huge"))
    with pytest.raises(R2RouteError, match="name both models"):
        load_pair(PairConfig(pair=None, slm=None, llm=None))


def test_sliding_window_models_are_capped_at_their_window(pair):
    from transformers import MistralConfig, MistralForCausalLM

    from r2route.pair.loading import LoadedModel

    cfg = MistralConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                        num_key_value_heads=1, max_position_embeddings=4096, sliding_window=512)
    lm = LoadedModel("m", MistralForCausalLM(cfg), pair.tokenizer, count_params(MistralForCausalLM(cfg)))
    assert lm.context_window == 512
    assert pair.slm.context_window == 2048  # full attention: max_position_embeddings


def test_tokenizers_load_without_their_constructors_python_copies(tmp_path):
    """BPE tokenizer classes such as Qwen2's keep the vocabulary and merges their constructor read
    (~90 MiB for Qwen's); the pair's loader drops them, and the tokenizer must work exactly as before."""
    from transformers import AutoTokenizer

    from r2route.pair.tokenizers import from_pretrained

    tiny_tokenizer().save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text())
    cfg["tokenizer_class"] = "Qwen2Tokenizer"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(cfg))
    full, lean = AutoTokenizer.from_pretrained(tmp_path), from_pretrained(str(tmp_path))
    assert len(full._vocab) > 500 and len(full._merges) > 100  # what there is to drop
    assert not lean._vocab and not lean._merges
    text = "Natalia sold clips to 48 of her friends in April, and then she sold half as many in May. 3*4=12 ünïcode"
    assert lean(text).input_ids == full(text).input_ids
    assert lean.decode(full(text).input_ids) == full.decode(full(text).input_ids)
    chat = [{"role": "user", "content": text}]
    assert lean.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == full.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert lean.get_vocab() == full.get_vocab() and lean.eos_token_id == full.eos_token_id


def test_echo_shape_models_predict_their_input_token_and_agree():
    """The speed benchmark's best case (``--shapes ... --echo``): models of real shapes whose layers
    add nothing predict their input token, so SLM and LLM agree everywhere."""
    from r2route.pair.shapes import build_shape_pair

    ids = torch.tensor([[5, 77, 300, 900, 12, 12, 40000]])
    echo = build_shape_pair("0.5b", "0.5b", torch.device("cpu"), torch.bfloat16, echo=True)
    with torch.no_grad():
        for lm in (echo.slm, echo.llm):
            assert torch.equal(lm.model(ids).logits[0].argmax(-1), ids[0])
