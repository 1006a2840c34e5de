"""`r2route serve` on every pair kind: one tokenizer (token handoff), two tokenizers (text
handoff) and a remote LLM (a second `r2route serve` on loopback). Chat and completions, streaming
and not; a streamed answer must equal the whole one, and a greedy answer must equal the engine's
own answer for the same prompt."""

from __future__ import annotations

from contextlib import ExitStack

import httpx
import openai
import pytest

from r2route.engine import Engine, GenerationConfig
from r2route.pair import PairConfig, load_pair
from r2route.router import make_strategy
from r2route.server.launch import running_server

MSG = [{"role": "user", "content": "Natalia sold 48 clips in April and half as many in May. How many?"}]
N = 12
ROUTING = ["--strategy", "random", "--llm-share", "0.4"]


@pytest.fixture(scope="module", params=["tiny", "tiny-cross", "remote"])
def kind(request):
    with ExitStack() as stack:
        if request.param == "remote":
            llm = stack.enter_context(running_server(["--pair", "tiny", "--device", "cpu", "--strategy", "llm", "--model-name", "tiny-llm"]))
            cfg = PairConfig(pair="tiny", device="cpu", llm_url=f"{llm}/v1")
            args = ["--pair", "tiny", "--llm-url", f"{llm}/v1"]
        else:
            cfg = PairConfig(pair=request.param, device="cpu")
            args = ["--pair", request.param]
        base = stack.enter_context(running_server([*args, "--device", "cpu", *ROUTING, "--max-tokens", "32"]))
        yield request.param, base, cfg


@pytest.fixture(scope="module")
def client(kind):
    return openai.OpenAI(base_url=f"{kind[1]}/v1", api_key="unused", max_retries=0, timeout=120)


def engine_text(cfg: PairConfig, messages=None, prompt=None) -> str:
    pair = load_pair(cfg)
    ids = pair.encode(messages=messages) if messages else pair.encode(prompt, chat=False)
    results, _ = Engine(pair, make_strategy("random", llm_share=0.4)).generate([ids], GenerationConfig(max_new_tokens=N, seed=5))
    return results[0].text


def test_health_names_the_handoff(kind):
    name, base, _ = kind
    assert httpx.get(f"{base}/health").json()["handoff"] == ("token" if name == "tiny" else "text")


def test_chat_whole_and_streamed_agree_with_the_engine(kind, client):
    _, _, cfg = kind
    kw = dict(model="r2route", messages=MSG, max_tokens=N, temperature=0, seed=5)
    whole = client.chat.completions.create(**kw)
    chunks = list(client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert whole.choices[0].message.content == streamed == engine_text(cfg, messages=MSG)
    assert whole.usage.completion_tokens == chunks[-1].usage.completion_tokens > 0
    assert 0 < whole.usage.llm_tokens < whole.usage.completion_tokens  # both models wrote


def test_completions_whole_and_streamed_agree_with_the_engine(kind, client):
    _, _, cfg = kind
    kw = dict(model="r2route", prompt="Once upon a time there was", max_tokens=N, temperature=0, seed=5)
    whole = client.completions.create(**kw)
    streamed = "".join(c.choices[0].text for c in client.completions.create(**kw, stream=True) if c.choices)
    assert whole.choices[0].text == streamed == engine_text(cfg, prompt=kw["prompt"])
    assert whole.usage.prompt_tokens > 3
