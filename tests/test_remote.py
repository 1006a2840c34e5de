"""A remote LLM behind a real OpenAI-compatible server on loopback (`r2route serve --strategy llm`)."""

import httpx
import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.engine.detokenize import TokenReader
from r2route.engine.handoff import splice
from r2route.engine.request import route_generator
from r2route.errors import R2RouteError
from r2route.pair import PairConfig, load_pair
from r2route.router import make_strategy
from r2route.server.launch import free_port, running_server

N = 16


@pytest.fixture(scope="module")
def url():
    with running_server(["--pair", "tiny", "--device", "cpu", "--strategy", "llm", "--model-name", "tiny-llm"]) as base:
        yield f"{base}/v1"


@pytest.fixture(scope="module")
def pair(url):
    return load_pair(PairConfig(pair="tiny", device="cpu", llm_url=url))


def piece(url, prompt):
    r = httpx.post(f"{url}/completions", json={"model": "tiny-llm", "prompt": prompt, "max_tokens": 1, "temperature": 0, "top_p": 1.0, "seed": 0}, timeout=60)
    c = r.json()["choices"][0]
    return c["text"], c["finish_reason"] == "stop"


def reference_remote(pair, url, prompt, p, seed, n=N):
    """The SLM re-reads its whole sequence each step; the LLM is asked over plain HTTP for one piece."""
    rng = route_generator(seed)
    tok = pair.slm.tokenizer
    seq, start = list(prompt.slm), len(prompt.slm)
    reader, covered, text, by_llm, last = TokenReader(tok, seq), 0, "", [], None
    for _ in range(n):
        if covered < len(text):
            seq, _ = splice(tok, seq[: len(seq) - reader.pending], start, text[covered:])
            reader, covered = TokenReader(tok, seq), len(text)
        if seq == last:
            routed = True
        else:
            last = list(seq)
            with torch.no_grad():
                t = int(pair.slm.model(torch.tensor([seq])).logits[0, -1].argmax())
            routed = torch.rand((), generator=rng).item() < p
        if routed:
            got, stop = piece(url, prompt.llm + text)
            text += got
            by_llm.append(True)
            if stop:
                break
        else:
            seq.append(t)
            text += reader.add(t)
            covered = len(text)
            by_llm.append(False)
    return text, by_llm


def test_remote_pair_is_text_handoff(pair):
    assert pair.handoff == "text" and pair.llm_is_remote and pair.llm.model == "tiny-llm"
    assert isinstance(pair.encode("hi").llm, str)


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_remote_routing_equals_reference(pair, url, p):
    prompt = pair.encode("Natalia sold clips to 48 of her friends in April.")
    results, stats = Engine(pair, make_strategy("random", llm_share=p)).generate([prompt], GenerationConfig(max_new_tokens=N, seed=9))
    text, by_llm = reference_remote(pair, url, prompt, p, seed=9)
    assert results[0].by_llm == by_llm
    assert results[0].text == text
    assert (stats.llm_calls == 0) == (p == 0.0)


def test_unreachable_or_wrong_server_is_one_line():
    with pytest.raises(R2RouteError, match="cannot reach --llm-url"):
        load_pair(PairConfig(pair="tiny", device="cpu", llm_url=f"http://127.0.0.1:{free_port()}/v1"))
    with pytest.raises(R2RouteError, match="must start with http"):
        load_pair(PairConfig(pair="tiny", device="cpu", llm_url="ftp://x"))


def test_unknown_remote_model_is_refused(url):
    with pytest.raises(R2RouteError, match="does not serve 'other'"):
        load_pair(PairConfig(pair="tiny", device="cpu", llm_url=url, llm_model="other"))


def test_server_prefix_cache_does_the_catch_up(url):
    """A growing prompt (what the mixed decoder sends) lands in the slot that holds its prefix."""
    from r2route.engine import Engine

    pair = load_pair(PairConfig(pair="tiny", device="cpu"))
    engine = Engine(pair, make_strategy("llm"), max_batch=4)
    prompt = pair.encode("Natalia sold clips to 48 of her friends in April.")
    first, s1 = engine.generate([prompt], GenerationConfig(max_new_tokens=1))
    longer = prompt + first[0].token_ids + [7, 8, 9]
    _, s2 = engine.generate([longer], GenerationConfig(max_new_tokens=1))
    assert s1.llm_tokens_fed == len(prompt)
    assert s2.llm_tokens_fed == 4  # the previous answer token and the three new ones
