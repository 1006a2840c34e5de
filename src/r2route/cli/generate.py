"""`r2route generate`: one prompt, streamed, with who wrote what."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..errors import R2RouteError
from .options import GenerationFlags, PairFlags, RoutingFlags, flag_groups, load_routed_pair

LLM_STYLE = "bold magenta"


@flag_groups
def generate(
    prompt: Annotated[str, typer.Argument(help="The prompt (sent as a user turn when the tokenizer has a chat template).")],
    *,
    models: PairFlags,
    routing: RoutingFlags,
    generation: GenerationFlags,
    stop: Annotated[list[str], typer.Option("--stop", help="Stop string (repeatable).")] = [],
    system: Annotated[str, typer.Option("--system", help="System message.")] = "",
    raw: Annotated[bool, typer.Option("--raw", help="Do not apply the chat template.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of streaming text.")] = False,
    show_routing: Annotated[bool, typer.Option("--show-routing", help="Colour the tokens the LLM wrote.")] = False,
) -> None:
    """Generate a reply: the SLM writes, the routed tokens come from the LLM."""
    from ..engine import Engine

    if not prompt.strip():
        raise R2RouteError("empty prompt")
    gen = generation.config(stop)
    mp, strat = load_routed_pair(models.config(), routing)
    ids = mp.encode(prompt, chat=not raw, system=system or None)
    engine = Engine(mp, strat, max_batch=1, runner=generation.runner)

    out: dict = {}
    if as_json:
        for _ in engine.stream([ids], gen, out):
            pass
    else:
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True)
        for ev in engine.stream([ids], gen, out):
            if not ev.text:
                continue
            if show_routing and ev.by_llm:
                console.print(ev.text, style=LLM_STYLE, end="", markup=False)
            else:
                console.print(ev.text, end="", markup=False)
            sys.stdout.flush()
        console.print()
        sys.stdout.flush()
    res = out[0]
    st = res.stats
    summary = {
        "text": res.text,
        "tokens": st.tokens,
        "llm_tokens": st.llm_tokens,
        "llm_share": st.llm_share,
        "avg_params": st.avg_params,
        "tokens_per_s": st.tokens_per_s,
        "seconds": st.seconds,
        "ttft": st.ttft,
        "router_seconds": st.router_seconds,
        "prompt_tokens": st.prompt_tokens,
        "finish_reason": res.finish_reason,
        "verify": gen.verify,
        "llm_calls": out["batch"].llm_calls,
        "rollbacks": out["batch"].rollbacks,
        "wasted_slm_tokens": out["batch"].wasted_slm_tokens,
        "handoff": mp.handoff,
        "routing": strat.describe(),
        "pair": mp.describe(),
        "token_ids": res.token_ids,
        "by_llm": [int(b) for b in res.by_llm],
    }
    if as_json:
        print(json.dumps(summary))
    else:
        print(format_stats(summary, show_routing), file=sys.stderr)


def format_stats(s: dict, legend: bool = False) -> str:
    """The one line of figures printed after every generation (gpt-fast style)."""
    line = (
        f"[{s['tokens']} tokens, {s['llm_tokens']} by the LLM ({100 * s['llm_share']:.1f}%), "
        f"avg {human(s['avg_params'])} params/token, {s['tokens_per_s']:.1f} tok/s, "
        f"TTFT {s['ttft'] * 1000:.0f} ms, router {s['router_seconds'] * 1000:.1f} ms, {s['finish_reason']}]"
    )
    return line + (" (LLM tokens in magenta)" if legend else "")


def human(n: float) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"
