"""An LLM behind an OpenAI-compatible completions endpoint (vLLM, SGLang, llama.cpp server, r2route).

At a routed position r2route sends the text so far and asks for one greedy token; the server's
prefix cache does the KV catch-up. Rows of a batch are sent concurrently. Text handoff always:
the server's tokenizer is its own business.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from ..errors import R2RouteError
from .params import ParamCount


@dataclass
class RemoteLLM:
    """Client of one model on an OpenAI-compatible server."""

    url: str  # base URL ending in /v1
    model: str
    tokenizer: object  # whose chat template formats the prompt text (the LLM's own where given)
    api_key: str | None = None
    params: ParamCount = field(default_factory=lambda: ParamCount(0, 0))
    piece_tokens: int = 1
    timeout: float = 120.0
    calls: int = 0
    seconds: float = 0.0

    def __post_init__(self):
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._http = httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=self.timeout)
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="r2route-remote")

    @property
    def name(self) -> str:
        return f"{self.model}@{self.url}"

    @property
    def context_window(self) -> int:
        return 1 << 30  # the server enforces its own

    @classmethod
    def connect(cls, url: str, model: str | None, tokenizer, api_key: str | None = None, params: int = 0) -> "RemoteLLM":
        """Check the server answers and knows the model (the first it lists when none is named)."""
        if not url.startswith(("http://", "https://")):
            raise R2RouteError(f"--llm-url must start with http:// or https://, got {url}")
        client = cls(url=url, model=model or "", tokenizer=tokenizer, api_key=api_key, params=ParamCount(params, params))
        try:
            r = client._http.get("/models", timeout=10)
        except httpx.HTTPError as e:
            raise R2RouteError(f"cannot reach --llm-url {url}: {type(e).__name__}: {e}") from None
        if r.status_code == 401:
            raise R2RouteError(f"--llm-url {url} refused the API key (401)")
        if r.status_code != 200:
            raise R2RouteError(f"--llm-url {url}/models answered HTTP {r.status_code}")
        ids = [m.get("id") for m in r.json().get("data", [])]
        if not model:
            if not ids:
                raise R2RouteError(f"--llm-url {url} lists no models; name one with --llm-model")
            client.model = ids[0]
        elif ids and model not in ids:
            raise R2RouteError(f"--llm-url {url} does not serve {model!r} (it serves {', '.join(map(str, ids))})")
        return client

    def _one(self, prompt: str, gen, max_tokens: int | None = None) -> tuple[str, bool]:
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens or self.piece_tokens, "temperature": gen.temperature, "top_p": gen.top_p, "seed": gen.seed}
        try:
            r = self._http.post("/completions", json=body)
        except httpx.HTTPError as e:
            raise R2RouteError(f"LLM server {self.url} failed: {type(e).__name__}: {e}") from None
        if r.status_code != 200:
            raise R2RouteError(f"LLM server {self.url} answered HTTP {r.status_code}: {r.text[:200]}")
        choice = r.json()["choices"][0]
        return choice.get("text") or "", choice.get("finish_reason") == "stop"

    def complete(self, prompts: list[str], gens: list, max_tokens: int | None = None) -> list[tuple[str, bool]]:
        """One piece per prompt (``max_tokens`` tokens where given, else a handoff piece):
        (text, whether the LLM ended its answer)."""
        t = time.perf_counter()
        out = list(self._pool.map(lambda p, g: self._one(p, g, max_tokens), prompts, gens))
        self.calls += 1
        self.seconds += time.perf_counter() - t
        return out
