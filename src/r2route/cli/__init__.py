"""The `r2route` command line."""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from ..errors import R2RouteError
from .calibrate import calibrate
from .chat import chat
from .eval import eval_
from .generate import generate
from .label import label
from .serve import serve
from .train_router import train_router

app = typer.Typer(
    name="r2route",
    help="A small and a large language model write one answer together (R2R token routing).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(generate)
app.command()(chat)
app.command()(serve)
app.command()(label)
app.command("train-router")(train_router)
app.command("eval")(eval_)
app.command()(calibrate)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: bad input is one line on stderr and exit code 2, never a traceback."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its warnings would break the one-line error promise
    hf_logging.disable_progress_bar()
    try:
        app(args=argv, standalone_mode=False)
    except R2RouteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except TyperException as e:
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()
            return 0
        msg = " ".join(e.format_message().split())
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def entry() -> None:
    sys.exit(main())
