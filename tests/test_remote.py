"""A remote LLM behind a real OpenAI-compatible server on loopback (`r2route serve --strategy llm`)."""

import httpx
import pytest
import torch

from r2route.engine import Engine, GenerationConfig
from r2route.engine.detokenize import TokenReader
from r2route.engine.retokenize import splice
from r2route.draws import ROUTE_DRAW, uniform_at
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
            routed = uniform_at(seed, start + len(by_llm), ROUTE_DRAW) < p  # keyed by the write's index
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
    """A growing prompt (what the mixed decoder sends) lands in the server's slot that holds its
    prefix: the server's LLM is fed only the new tokens (read from the server's own /metrics)."""
    base = url[: -len("/v1")]
    tok = load_pair(PairConfig(pair="tiny", device="cpu")).tokenizer
    prompt = tok("Natalia sold clips to 48 of her friends in April.", add_special_tokens=False)["input_ids"]

    def fed():
        for line in httpx.get(f"{base}/metrics").text.splitlines():
            if line.startswith('r2route_tokens_fed{model="llm"}'):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError("no r2route_tokens_fed metric")

    def one_token(ids):
        r = httpx.post(f"{url}/completions", json={"model": "tiny-llm", "prompt": ids, "max_tokens": 1, "temperature": 0}, timeout=60)
        return r.json()

    unrelated = tok("Something else entirely, to fill the other slots.", add_special_tokens=False)["input_ids"]
    one_token(unrelated)
    before = fed()
    first = one_token(prompt)
    after_first = fed()
    answer = tok(first["choices"][0]["text"], add_special_tokens=False)["input_ids"]
    assert after_first - before == len(prompt)  # nothing cached for it yet
    one_token(prompt + answer + [7, 8, 9])
    assert fed() - after_first == len(answer) + 3  # the answer token and the three new ones
