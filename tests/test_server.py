"""`r2route serve` as a real process on loopback, driven by the official openai client."""

import json
import threading
import time

import httpx
import openai
import pytest

from r2route.server.launch import running_server

KEY = "test-key"


@pytest.fixture(scope="module")
def server():
    args = ["--pair", "tiny", "--device", "cpu", "--api-key", KEY, "--strategy", "random", "--llm-share", "0.3",
            "--max-tokens", "16", "--max-body-bytes", "20000"]
    with running_server(args) as base:
        yield base


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=60)


MSG = [{"role": "user", "content": "Natalia sold 48 clips in April. How many in May?"}]


def test_chat_completion_with_usage(client):
    r = client.chat.completions.create(model="r2route", messages=MSG, max_tokens=12, temperature=0)
    assert r.object == "chat.completion"
    assert isinstance(r.choices[0].message.content, str) and r.choices[0].message.role == "assistant"
    u = r.usage
    assert u.completion_tokens <= 12 and u.prompt_tokens > 10 and u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert 0 <= u.llm_tokens <= u.completion_tokens
    assert u.llm_share == pytest.approx(u.llm_tokens / u.completion_tokens)
    assert r.choices[0].finish_reason in ("stop", "length")


def test_text_completion(client):
    r = client.completions.create(model="r2route", prompt="Once upon a time", max_tokens=8, temperature=0)
    assert r.object == "text_completion" and isinstance(r.choices[0].text, str)
    assert r.usage.completion_tokens <= 8


def test_streaming_matches_non_streaming(client):
    kw = dict(model="r2route", messages=MSG, max_tokens=14, temperature=0, seed=3)
    whole = client.chat.completions.create(**kw)
    chunks = list(client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.llm_tokens == whole.usage.llm_tokens


def test_greedy_output_same_alone_and_beside_others(client):
    prompts = [f"Question {i}: what is {i} + {i}?" for i in range(6)]
    alone = [client.chat.completions.create(model="r2route", messages=[{"role": "user", "content": p}], max_tokens=16, temperature=0).choices[0].message.content for p in prompts]
    together = [None] * len(prompts)

    def ask(i):
        together[i] = client.chat.completions.create(model="r2route", messages=[{"role": "user", "content": prompts[i]}], max_tokens=16, temperature=0).choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone


def test_per_request_routing_override(client):
    slm = client.chat.completions.create(model="r2route", messages=MSG, max_tokens=10, temperature=0, extra_body={"r2route": {"strategy": "slm"}})
    llm = client.chat.completions.create(model="r2route", messages=MSG, max_tokens=10, temperature=0, extra_body={"r2route": {"strategy": "llm"}})
    assert slm.usage.llm_tokens == 0
    assert llm.usage.llm_tokens == llm.usage.completion_tokens and llm.usage.llm_share == 1.0
    with pytest.raises(openai.BadRequestError, match="r2route"):
        client.chat.completions.create(model="r2route", messages=MSG, max_tokens=4, extra_body={"r2route": {"threshold": 3}})


def test_missing_or_wrong_key_is_401(server):
    for key in ("wrong", "x"):
        c = openai.OpenAI(base_url=f"{server}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            c.models.list()
    r = httpx.post(f"{server}/v1/chat/completions", json={"model": "r2route", "messages": MSG})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_bad_requests_are_400_with_openai_errors(server, client):
    h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    r = httpx.post(f"{server}/v1/chat/completions", content=b"{not json", headers=h)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model="r2route", messages=MSG, max_tokens=-5)
    with pytest.raises(openai.BadRequestError, match="unknown model"):
        client.chat.completions.create(model="gpt-9", messages=MSG)
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="r2route", messages=[])
    with pytest.raises(openai.BadRequestError, match="n"):
        client.chat.completions.create(model="r2route", messages=MSG, n=2)
    with pytest.raises(openai.BadRequestError, match="context window"):
        client.completions.create(model="r2route", prompt=list(range(3, 1000)) * 3)
    r = httpx.post(f"{server}/v1/completions", content=json.dumps({"model": "r2route", "prompt": "x" * 30000}), headers=h)
    assert r.status_code == 413
    r = httpx.get(f"{server}/v1/nothing-here", headers=h)
    assert r.status_code == 404 and "error" in r.json()


def test_max_tokens_is_capped_by_the_context_window(client):
    prompt = list(range(3, 1000)) * 2 + list(range(3, 47))  # 2,038 tokens of a 2,048 window
    r = client.completions.create(model="r2route", prompt=prompt, max_tokens=500, temperature=0)
    assert r.usage.completion_tokens <= 10 and r.choices[0].finish_reason in ("length", "stop")


def metric(server, name):
    text = httpx.get(f"{server}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_disconnect_mid_stream_stops_generation(server, client):
    closed = 'r2route_requests_total{endpoint="chat",status="499"}'
    before = metric(server, closed)
    decoded_before = metric(server, "r2route_decoded_tokens")
    stream = client.chat.completions.create(model="r2route", messages=MSG, max_tokens=1500, temperature=0, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    deadline = time.time() + 20
    while time.time() < deadline and (metric(server, closed) == before or metric(server, "r2route_batch_rows") > 0):
        time.sleep(0.05)
    assert metric(server, closed) == before + 1
    assert metric(server, "r2route_batch_rows") == 0 and metric(server, "r2route_requests_in_flight") == 0
    decoded = metric(server, "r2route_decoded_tokens")
    time.sleep(0.5)
    assert metric(server, "r2route_decoded_tokens") == decoded  # nothing is decoding any more
    assert decoded - decoded_before < 1500  # it stopped early, not at max_tokens


def test_models_health_and_metrics(server, client):
    assert [m.id for m in client.models.list().data] == ["r2route"]
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    assert metric(server, "r2route_generated_tokens_total") > 0
    assert 0.0 <= metric(server, "r2route_llm_share") <= 1.0
    assert httpx.get(f"{server}/metrics").status_code == 401


def test_verify_all_per_request_is_the_llms_text_and_usage_counts_calls(client):
    kw = dict(model="r2route", messages=MSG, max_tokens=14, temperature=0)
    llm = client.chat.completions.create(**kw, extra_body={"r2route": {"strategy": "llm"}})
    spec = client.chat.completions.create(**kw, extra_body={"r2route": {"strategy": "slm", "verify": "all", "max_draft": 3}})
    assert spec.choices[0].message.content == llm.choices[0].message.content
    assert 0 < spec.usage.llm_calls < spec.usage.completion_tokens
    assert spec.usage.rollbacks >= 0 and llm.usage.rollbacks == 0
    with pytest.raises(openai.BadRequestError, match="r2route"):
        client.chat.completions.create(**kw, extra_body={"r2route": {"verify": "some"}})
