"""`r2route serve`: the OpenAI-compatible server."""

from __future__ import annotations

import signal
import sys
from typing import Annotated, Optional

import typer

from .. import defaults
from ..errors import R2RouteError
from .options import GenerationFlags, Only, PairFlags, RoutingFlags, flag_groups, load_routed_pair, request_routing


@flag_groups
def serve(
    *,
    models: PairFlags,
    routing: RoutingFlags,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    api_key: Annotated[Optional[str], typer.Option("--api-key", help="Require Authorization: Bearer KEY.", envvar="R2ROUTE_API_KEY")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Requests decoded together.")] = defaults.MAX_BATCH,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="max_tokens when a request gives none.")] = defaults.MAX_NEW_TOKENS,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", help="Largest request body accepted.")] = 1 << 20,
    model_name: Annotated[str, typer.Option("--model-name", help="The model id clients send.")] = "r2route",
    # requests bring their own length and sampling; these are their verification defaults and how the models run
    generation: Annotated[GenerationFlags, Only("verify", "accept_margin", "max_draft", "runner")],
    drain_seconds: Annotated[float, typer.Option("--drain-seconds", help="On SIGTERM/SIGINT: refuse new connections and let answers in flight finish for at most this long.")] = defaults.SERVER_DRAIN_SECONDS,
) -> None:
    """Serve the pair behind an OpenAI-compatible API (chat, completions, streaming, /metrics)."""
    import uvicorn

    from ..server import ServerConfig, create_app

    if not (0 < port < 65536):
        raise R2RouteError(f"--port must be in 1..65535, got {port}")
    if drain_seconds < 0:
        raise R2RouteError(f"--drain-seconds must be ≥ 0, got {drain_seconds}")
    for name, value in (("--max-batch", max_batch), ("--max-tokens", max_tokens), ("--max-body-bytes", max_body_bytes)):
        if value < 1:
            raise R2RouteError(f"{name} must be ≥ 1, got {value}")
    generation.config()  # bad flags fail before any model loads
    pair_cfg = models.config()
    mp, strat = load_routed_pair(pair_cfg, routing)
    if generation.verify != "none" and mp.handoff != "token":
        raise R2RouteError("--verify all needs a pair that shares one tokenizer")
    verify_cfg = {"verify": generation.verify, "accept_margin": generation.accept_margin, "max_draft": generation.max_draft}
    cfg = ServerConfig(model_name=model_name, api_key=api_key, max_body_bytes=max_body_bytes, default_max_tokens=max_tokens, max_batch=max_batch,
                       verify=verify_cfg, runner=generation.runner)
    router, calibration = request_routing(pair_cfg, routing, strat, mp)
    app = create_app(mp, strat, cfg, router=router, calibration=calibration)
    graphs, seconds = app.state.worker.session.warm_up()
    if graphs:
        print(f"r2route: captured {graphs} CUDA graphs in {seconds:.1f} s", file=sys.stderr, flush=True)
    print(f"r2route: serving {model_name} ({mp.slm.name} → {mp.llm.name}, {strat.describe()}) on http://{host}:{port}/v1", file=sys.stderr, flush=True)
    # uvicorn drains on SIGTERM, then re-raises it to the handler it found: with this one a server
    # that shut down cleanly exits 0, as process managers expect, instead of dying by the signal.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=drain_seconds)
    except OSError as e:
        raise R2RouteError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
