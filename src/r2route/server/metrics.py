"""Prometheus metrics of one server (its own registry: no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ServerMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("r2route_requests", "Requests answered", ["endpoint", "status"], registry=self.registry)
        self.tokens = Counter("r2route_generated_tokens", "Tokens generated", registry=self.registry)
        self.llm_tokens = Counter("r2route_llm_tokens", "Tokens written by the LLM", registry=self.registry)
        self.prompt_tokens = Counter("r2route_prompt_tokens", "Prompt tokens read", registry=self.registry)
        self.llm_share = Gauge("r2route_llm_share", "LLM share of all tokens generated so far", registry=self.registry)
        self.in_flight = Gauge("r2route_requests_in_flight", "HTTP requests waiting for their answer", registry=self.registry)
        self.batch_rows = Gauge("r2route_batch_rows", "Requests in the decoding batch or queued for it", registry=self.registry)
        self.decoded = Gauge("r2route_decoded_tokens", "Tokens decoded, cancelled requests included", registry=self.registry)
        self.fed = Gauge("r2route_tokens_fed", "Tokens fed to each local model (prompts, catch-ups, decode steps)", ["model"], registry=self.registry)
        self.cancelled = Counter("r2route_cancelled_requests", "Requests whose client went away before the answer ended", registry=self.registry)
        self.latency = Histogram(
            "r2route_request_latency_seconds", "Time from request to last token", ["endpoint"], registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
        )
        self._tok = 0
        self._llm = 0

    def finished(self, endpoint: str, tokens: int, llm_tokens: int, prompt_tokens: int, seconds: float) -> None:
        self.tokens.inc(tokens)
        self.llm_tokens.inc(llm_tokens)
        self.prompt_tokens.inc(prompt_tokens)
        self.latency.labels(endpoint).observe(seconds)
        self._tok += tokens
        self._llm += llm_tokens
        self.llm_share.set(self._llm / self._tok if self._tok else 0.0)

    def render(self, session) -> bytes:
        # Read at scrape time from the decoding thread's session (plain ints: safe to read).
        self.batch_rows.set(len(session.rows) + len(session.queue))
        self.decoded.set(session.stats.tokens)
        self.fed.labels("slm").set(session.stats.slm_tokens_fed)
        self.fed.labels("llm").set(session.stats.llm_tokens_fed)
        return generate_latest(self.registry)
