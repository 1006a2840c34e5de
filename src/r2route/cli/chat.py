"""`r2route chat`: an interactive conversation with the chat template, streamed."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import R2RouteError
from .generate import LLM_STYLE, format_stats
from .options import GenerationFlags, PairFlags, RoutingFlags, flag_groups, load_routed_pair

HELP = "commands: /reset clears the conversation, /routing toggles colouring of LLM tokens, /exit quits"


@flag_groups
def chat(
    *,
    models: PairFlags,
    routing: RoutingFlags,
    generation: GenerationFlags,
    system: Annotated[str, typer.Option("--system", help="System message.")] = "",
    show_routing: Annotated[bool, typer.Option("--show-routing", help="Colour the tokens the LLM wrote.")] = True,
) -> None:
    """Chat with the pair; each reply shows how much of it the LLM wrote."""
    from rich.console import Console

    from ..engine import Engine, PairPrompt

    gen = generation.config()
    mp, strat = load_routed_pair(models.config(), routing)
    if not getattr(mp.tokenizer, "chat_template", None):
        raise R2RouteError("this pair's tokenizer has no chat template; use `r2route generate --raw`")
    engine = Engine(mp, strat, max_batch=1, runner=generation.runner)
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False)
    err.print(f"r2route chat — {mp.slm.name} → {mp.llm.name}. {HELP}")
    base = [{"role": "system", "content": system}] if system else []
    messages = list(base)
    while True:
        try:
            line = input("you> " if sys.stdin.isatty() else "")
        except EOFError:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            messages = list(base)
            err.print("(conversation cleared)")
            continue
        if text == "/routing":
            show_routing = not show_routing
            err.print(f"(routing colours {'on' if show_routing else 'off'})")
            continue
        messages.append({"role": "user", "content": text})
        def size(p) -> int:
            return len(p.slm) if isinstance(p, PairPrompt) else len(p)

        ids = mp.encode(messages=messages)
        while size(ids) + 1 >= mp.context_window and len(messages) > len(base) + 1:
            messages = base + messages[len(base) + 2 :]  # forget the oldest exchange
            ids = mp.encode(messages=messages)
        if size(ids) + 1 >= mp.context_window:
            messages.pop()
            err.print(f"(message too long: {size(ids)} tokens; the context window is {mp.context_window})")
            continue
        out: dict = {}
        for ev in engine.stream([ids], gen, out):
            if ev.text:
                console.print(ev.text, style=LLM_STYLE if (show_routing and ev.by_llm) else None, end="", markup=False)
        console.print()
        res = out[0]
        messages.append({"role": "assistant", "content": res.text})
        st = res.stats
        err.print(format_stats({**st.to_dict(), "finish_reason": res.finish_reason}), style="dim", markup=False)
