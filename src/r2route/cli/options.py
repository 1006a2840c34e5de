"""Options shared by the CLI verbs, and turning them into a pair, a router and a strategy."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import defaults
from ..errors import R2RouteError

PairOpt = Annotated[str, typer.Option("--pair", help="Preset pair: tiny (random weights, for tests) or default.")]
SlmOpt = Annotated[Optional[str], typer.Option("--slm", help="Small model: hub id, local directory or .gguf file.")]
LlmOpt = Annotated[Optional[str], typer.Option("--llm", help="Large model: hub id, local directory or .gguf file.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:N].")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="auto (fp32 on CPU, bf16 on CUDA), float32, bfloat16, float16.")]
LlmUrlOpt = Annotated[Optional[str], typer.Option("--llm-url", help="An OpenAI-compatible server for the LLM, e.g. http://host:8000/v1 (vLLM, SGLang, llama.cpp).")]
LlmModelOpt = Annotated[Optional[str], typer.Option("--llm-model", help="The model name on --llm-url (default: the first it lists).")]
LlmTokOpt = Annotated[Optional[str], typer.Option("--llm-tokenizer", help="Tokenizer (hub id or dir) whose chat template the remote LLM expects (default: the SLM's).")]
LlmKeyOpt = Annotated[Optional[str], typer.Option("--llm-api-key", envvar="R2ROUTE_LLM_API_KEY", help="API key for --llm-url.")]
LlmParamsOpt = Annotated[float, typer.Option("--llm-params", help="The remote LLM's parameter count in billions, for average activated parameters.")]
RouterOpt = Annotated[Optional[str], typer.Option("--router", help="Router directory (router.json + router.safetensors); default: the preset pair's shipped router; 'none' for none.")]
StrategyOpt = Annotated[Optional[str], typer.Option("--strategy", help="slm, llm, neural, entropy or random (default: neural with --router or the pair's shipped router, else entropy).")]
ThresholdOpt = Annotated[Optional[float], typer.Option("--threshold", help="Routing threshold in [0, 1] (router probability, or normalised SLM entropy).")]
ShareOpt = Annotated[Optional[float], typer.Option("--llm-share", help="Target LLM share in [0, 1]: the probability for random routing, a calibrated threshold for neural.")]
MaxNewOpt = Annotated[int, typer.Option("--max-new-tokens", "-n", help="Most tokens to generate.")]
TempOpt = Annotated[float, typer.Option("--temperature", "-t", help="0 = greedy.")]
TopPOpt = Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for sampling and random routing.")]
VerifyOpt = Annotated[str, typer.Option("--verify", help="none: R2R (the LLM checks the tokens the router flags); all: the LLM checks every SLM token since its last call (lossless at margin 0; with --strategy slm, speculative decoding).")]
MarginOpt = Annotated[float, typer.Option("--accept-margin", help="With --verify all, greedy: an SLM token also stands where the LLM's log-probability of it is within this many nats of its top token's.")]
DraftOpt = Annotated[int, typer.Option("--max-draft", help="With --verify all: the LLM checks at least every this many SLM tokens.")]


def pair_config(pair, slm, llm, device, dtype, llm_url=None, llm_model=None, llm_tokenizer=None, llm_api_key=None, llm_params=0.0):
    """The CLI's model flags as a PairConfig (a remote LLM's size is given in billions)."""
    from ..pair import PairConfig

    if llm_params < 0:
        raise R2RouteError(f"--llm-params must be ≥ 0, got {llm_params}")
    return PairConfig(pair=pair, slm=slm, llm=llm, device=device, dtype=dtype, llm_url=llm_url, llm_model=llm_model,
                      llm_tokenizer=llm_tokenizer, llm_api_key=llm_api_key, llm_params=int(llm_params * 1e9))


def build_pair(cfg):
    """Load the pair, showing a spinner on stderr while weights load."""
    from rich.console import Console

    from ..pair import load_pair

    with Console(stderr=True).status("loading models…", spinner="dots"):
        return load_pair(cfg)


def build_strategy(strategy: str | None, router: str | None, threshold: float | None, llm_share: float | None):
    """Resolve --strategy/--router/--threshold/--llm-share into a Strategy.

    Runs before any model loads, so a bad flag or router file fails at once.
    """
    from ..router import load_router, make_strategy

    use_router = router is not None and router.lower() != "none"
    name = strategy or ("neural" if use_router else defaults.STRATEGY)
    if use_router and name != "neural":
        raise R2RouteError(f"--router is only used by --strategy neural, not {name}")
    bundle = load_router(router) if use_router else None
    return make_strategy(name, threshold, llm_share, router=bundle)


def attach_strategy(strategy, pair) -> None:
    """Check that a neural router was trained for this pair and move it to the pair's device."""
    bundle = getattr(strategy, "bundle", None)
    if bundle is not None:
        bundle.check_pair(pair.identity())
        bundle.model.to(pair.device)


def default_router(cfg, strategy: str | None, router: str | None) -> str | None:
    """``--router`` as given, else the preset pair's shipped router when the pair is used as is
    and no other strategy is asked for (``--router none`` turns it off)."""
    from ..router.shipped import shipped_router

    if router is not None or strategy not in (None, "neural") or cfg.slm or cfg.llm or cfg.llm_url:
        return router
    path = shipped_router(cfg.pair)
    return str(path) if path else None


def load_routed_pair(cfg, strategy, router, threshold, llm_share):
    """Validate the routing flags, then load the pair and attach the router: what every verb starts with."""
    strat = build_strategy(strategy, default_router(cfg, strategy, router), threshold, llm_share)
    mp = build_pair(cfg)
    attach_strategy(strat, mp)
    return mp, strat
