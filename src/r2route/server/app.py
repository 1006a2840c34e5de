"""The OpenAI-compatible HTTP API over one routed pair.

Errors are OpenAI-style JSON (``{"error": {"message", "type", "param", "code"}}``) with 4xx codes for
anything the client sent wrong; a traceback never reaches the client.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import defaults
from ..engine import GenerationConfig, PairPrompt
from ..engine.request import Result, TokenEvent, slm_length
from ..engine.engine import open_session
from ..errors import R2RouteError
from ..pair.pair import ModelPair
from ..router.calibration import EntropyCalibration
from ..router.io import RouterBundle
from ..router.strategies import Strategy, make_strategy
from .metrics import ServerMetrics
from .schemas import ChatRequest, CompletionRequest, _Common
from .worker import EngineWorker, Failure, Handle


@dataclass
class ServerConfig:
    """Settings of one server."""

    model_name: str = "r2route"
    api_key: str | None = None
    max_body_bytes: int = 1 << 20
    default_max_tokens: int = defaults.MAX_NEW_TOKENS
    max_batch: int = defaults.MAX_BATCH
    verify: dict = field(default_factory=dict)  # default verify / accept_margin / max_draft of every request
    runner: str = defaults.RUNNER  # how each model runs: auto or a name in engine.runners.RUNNERS


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code


def error_response(status: int, message: str, type_: str = "invalid_request_error", param=None, code=None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}}, status_code=status)


def create_app(pair: ModelPair, strategy: Strategy, cfg: ServerConfig, router: RouterBundle | None = None,
               calibration: EntropyCalibration | None = None) -> FastAPI:
    """Build the app; the decoding thread starts and stops with it."""
    worker = EngineWorker(open_session(pair, strategy, cfg.max_batch, runner=cfg.runner))
    metrics = ServerMetrics()
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker.start()
        yield
        worker.stop()

    app = FastAPI(title="r2route", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.worker, app.state.metrics = worker, metrics

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError):
        return error_response(e.status, e.message, e.type, e.param, e.code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        return error_response(e.status_code, str(e.detail), "invalid_request_error")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception):
        return error_response(500, f"internal error: {type(e).__name__}", "server_error")

    def authorize(request: Request) -> None:
        if cfg.api_key is None:
            return
        header = request.headers.get("authorization", "")
        if not secrets.compare_digest(header.encode(), f"Bearer {cfg.api_key}".encode()):
            raise ApiError(401, "invalid or missing API key (send Authorization: Bearer KEY)", "authentication_error", code="invalid_api_key")

    async def read_json(request: Request) -> dict:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise ApiError(415, f"Content-Type is {ctype!r}; send the body as application/json")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cfg.max_body_bytes:
            raise ApiError(413, f"request body over {cfg.max_body_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > cfg.max_body_bytes:
                raise ApiError(413, f"request body over {cfg.max_body_bytes} bytes")
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(400, f"request body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "request body must be a JSON object")
        return data

    def parse(model_cls, data: dict):
        try:
            req = model_cls.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "body"
            raise ApiError(400, f"{where}: {err['msg']}", param=where) from None
        if req.model != cfg.model_name:
            raise ApiError(400, f"unknown model {req.model!r}; this server serves {cfg.model_name!r}", param="model", code="model_not_found")
        return req

    def settings(req: _Common, prompt_len: int) -> tuple[GenerationConfig, Strategy | None]:
        window = worker.session.window  # the models' window, or less where the runners allocate their caches
        if prompt_len >= window:
            raise ApiError(400, f"prompt is {prompt_len} tokens; the context window is {window}", param="messages")
        if (req.limit() or 0) >= window:
            raise ApiError(400, f"max_tokens {req.limit()} is above the context window ({window} tokens, prompt included)", param="max_tokens")
        # A request that fits the window alone but not with its prompt is cut at the window (finish_reason "length").
        limit = min(req.limit() or cfg.default_max_tokens, window - prompt_len)
        seed = req.seed if req.seed is not None else (0 if req.temperature == 0 else secrets.randbelow(2**31))
        o = req.r2route
        verify = {k: getattr(o, k) for k in ("verify", "accept_margin", "max_draft") if o is not None and getattr(o, k) is not None}
        gen = GenerationConfig(max_new_tokens=limit, temperature=req.temperature, top_p=req.top_p, seed=seed, stop=req.stop_list(),
                               **{**cfg.verify, **verify})
        if gen.verify != "none" and pair.handoff != "token":
            raise ApiError(400, "verify all needs a pair that shares one tokenizer", param="r2route")
        strat = None  # the server's own; a request naming only the server's strategy keeps its threshold too
        if o is not None and (o.strategy not in (None, strategy.name) or o.threshold is not None or o.llm_share is not None):
            try:
                strat = make_strategy(o.strategy or strategy.name, o.threshold, o.llm_share, router=router, calibration=calibration)
            except R2RouteError as e:
                raise ApiError(400, str(e), param="r2route") from None
        return gen, strat

    def usage(res: Result) -> dict:
        st = res.stats
        return {
            "prompt_tokens": st.prompt_tokens,
            "completion_tokens": st.tokens,
            "total_tokens": st.prompt_tokens + st.tokens,
            "llm_tokens": st.llm_tokens,
            "llm_share": st.llm_share,
            "llm_calls": st.llm_calls,
            "rollbacks": st.rollbacks,
        }

    async def collect(handle: Handle, request: Request, endpoint: str) -> Result:
        """Wait for a whole answer, stopping generation if the client leaves."""
        checked = time.monotonic()
        while True:
            try:
                item = await asyncio.wait_for(handle.events.get(), timeout=0.25)
            except asyncio.TimeoutError:
                item = None
            # Token events arrive faster than any timeout, so look for a departed client by the clock.
            if time.monotonic() - checked >= 0.25:
                checked = time.monotonic()
                if await request.is_disconnected():
                    worker.cancel(handle.rid)
                    metrics.cancelled.inc()
                    metrics.requests.labels(endpoint, "499").inc()
                    raise ApiError(499, "client closed the request")
            if isinstance(item, Result):
                return item
            if isinstance(item, Failure):
                raise ApiError(500, item.message, "server_error")

    def sse(obj) -> str:
        return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

    async def stream(handle: Handle, endpoint: str, rid: str, include_usage: bool):
        chat = endpoint == "chat"
        obj = "chat.completion.chunk" if chat else "text_completion"
        head = {"id": rid, "object": obj, "created": int(time.time()), "model": cfg.model_name}

        def choice(text: str | None, finish: str | None) -> dict:
            if chat:
                delta = {} if text is None else {"content": text}
                return {"index": 0, "delta": delta, "finish_reason": finish}
            return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

        done = False
        metrics.in_flight.inc()
        t0 = time.perf_counter()
        try:
            if chat:
                yield sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
            while True:
                item = await handle.events.get()
                if isinstance(item, TokenEvent):
                    if item.text:
                        yield sse({**head, "choices": [choice(item.text, None)]})
                elif isinstance(item, Result):
                    yield sse({**head, "choices": [choice(None, item.finish_reason)]})
                    if include_usage:
                        yield sse({**head, "choices": [], "usage": usage(item)})
                    yield "data: [DONE]\n\n"
                    done = True
                    st = item.stats
                    metrics.finished(endpoint, st.tokens, st.llm_tokens, st.prompt_tokens, time.perf_counter() - t0)
                    metrics.requests.labels(endpoint, "200").inc()
                    return
                else:
                    yield sse({"error": {"message": item.message, "type": "server_error", "param": None, "code": None}})
                    done = True
                    metrics.requests.labels(endpoint, "500").inc()
                    return
        finally:
            metrics.in_flight.dec()
            if not done:  # the client went away mid-stream: stop decoding its tokens
                worker.cancel(handle.rid)
                metrics.cancelled.inc()
                metrics.requests.labels(endpoint, "499").inc()

    async def run(request: Request, endpoint: str, ids: list[int] | PairPrompt, req: _Common):
        gen, strat = settings(req, slm_length(ids))
        handle = worker.submit(ids, gen, strat)
        rid = f"{'chatcmpl' if endpoint == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        if req.stream:
            include = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(stream(handle, endpoint, rid, include), media_type="text/event-stream")
        metrics.in_flight.inc()
        t0 = time.perf_counter()
        try:
            res = await collect(handle, request, endpoint)
        finally:
            metrics.in_flight.dec()
        st = res.stats
        metrics.finished(endpoint, st.tokens, st.llm_tokens, st.prompt_tokens, time.perf_counter() - t0)
        metrics.requests.labels(endpoint, "200").inc()
        head = {"id": rid, "created": int(time.time()), "model": cfg.model_name, "usage": usage(res)}
        if endpoint == "chat":
            msg = {"role": "assistant", "content": res.text}
            return {**head, "object": "chat.completion", "choices": [{"index": 0, "message": msg, "finish_reason": res.finish_reason}]}
        return {**head, "object": "text_completion", "choices": [{"index": 0, "text": res.text, "finish_reason": res.finish_reason, "logprobs": None}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        authorize(request)
        req: ChatRequest = parse(ChatRequest, await read_json(request))
        try:
            ids = pair.encode(messages=[{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages])
        except R2RouteError as e:
            raise ApiError(400, str(e), param="messages") from None
        return await run(request, "chat", ids, req)

    @app.post("/v1/completions")
    async def completions(request: Request):
        authorize(request)
        req: CompletionRequest = parse(CompletionRequest, await read_json(request))
        if req.echo or req.logprobs:
            raise ApiError(400, "echo and logprobs are not supported", param="echo" if req.echo else "logprobs")
        if isinstance(req.prompt, str):
            ids = pair.encode(req.prompt, chat=False)
        elif pair.handoff == "text":
            raise ApiError(400, "token-id prompts need a pair that shares one tokenizer; send text", param="prompt")
        else:
            vocab = pair.slm.vocab_size
            if any(not (0 <= t < vocab) for t in req.prompt):
                raise ApiError(400, f"prompt token ids must be in [0, {vocab})", param="prompt")
            ids = list(req.prompt)
        return await run(request, "completion", ids, req)

    @app.get("/v1/models")
    async def models(request: Request):
        authorize(request)
        return {"object": "list", "data": [{"id": cfg.model_name, "object": "model", "created": created, "owned_by": "r2route"}]}

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": cfg.model_name, "handoff": pair.handoff}

    @app.get("/metrics")
    async def prometheus(request: Request):
        authorize(request)
        return Response(metrics.render(worker.session), media_type="text/plain; version=0.0.4")

    return app
