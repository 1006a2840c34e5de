"""What the benchmark scripts share: their command line, the pair they load, prompts, JSON output
and small statistics.

A script runs as ``python benchmarks/NAME.py``, which puts benchmarks/ on the path, so it imports
this module as ``common``.

Command line and loading
- ``parser(doc, pair="tiny", device="auto", batch=None, router=False, json_out=True)``: an argument
  parser described by the script's docstring, with ``--pair`` (None: none), ``--device``, ``--dtype``
  and ``--threads`` (device=None: none of the three; the script loads no model in this process),
  ``--json PATH`` (as ``args.json_out``), and on request ``--batch`` (a comma list, parsed to
  ``list[int]``; ``batch`` is its default) and ``--router``.
- ``int_list(text)``: ``"1,4,8"`` → ``[1, 4, 8]``, an argparse type.
- ``load(args)``: applies ``--threads``, then loads ``--pair`` on ``--device``/``--dtype``.
- ``router_for(args, pair)``: (bundle, description): ``--router``, else the pair's shipped router,
  else a fresh router of the default shape (a router's cost depends on its shape, not its weights).

Data
- ``GSM8K_TRAIN``: ``../shared/data/gsm8k/train.jsonl`` beside the checkout.
- ``gsm8k_train(n)``: the first n GSM8K *train* questions, as prompts for speed and load runs (a
  setting tuned on them has seen no test record); distinct arithmetic questions where the data is
  absent.
- ``read_rows(path)``: the rows of a JSONL file that a running process may be appending to: read
  only, a torn last line skipped.

Output, written atomically (a temporary file renamed into place, ``r2route.fileio``): a reader, or
a run killed mid-write, never leaves half a file
- ``write_json(path, obj)``, ``write_jsonl(path, rows)``: replace the file.
- ``append_jsonl(path, rows)``: the file's lines plus these; for logs that grow run by run, or
  measurement by measurement within a long run.

Statistics and processes
- ``median(values)``, ``percentile(values, q)``: NaN for no values; ``percentile`` is the value at
  rank ⌊q·n⌋ of the sorted values (p99 of 100 latencies is the largest).
- ``proc_status(*fields, pid="self")``: fields of ``/proc/PID/status`` in kB (VmRSS, VmHWM,
  RssAnon, RssFile; Linux).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Iterable

# r2route is imported inside the helpers that need it: its package import loads torch, which the
# scripts that only read result files (outcome_power.py, verify_compare.py) otherwise do without.

GSM8K_TRAIN = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k" / "train.jsonl"


def int_list(text: str) -> list[int]:
    """``"1,4,8"`` → ``[1, 4, 8]`` (an argparse ``type``)."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def parser(doc: str, *, pair: str | None = "tiny", device: str | None = "auto", batch: str | None = None,
           router: bool = False, json_out: bool = True) -> argparse.ArgumentParser:
    """The options every benchmark spells the same way; ``doc`` (the script's docstring) is its help."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if pair is not None:
        ap.add_argument("--pair", default=pair, help=f"pair preset (default {pair})")
    if device is not None:
        ap.add_argument("--device", default=device, help=f"cpu, cuda or auto (default {device})")
        ap.add_argument("--dtype", default="auto", help="weights' dtype for transformers models (default auto)")
        ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    if batch is not None:
        ap.add_argument("--batch", type=int_list, default=int_list(batch), help=f"comma-separated batch sizes (default {batch})")
    if router:
        ap.add_argument("--router", default=None, help="a trained router's directory (default: the pair's shipped one)")
    if json_out:
        ap.add_argument("--json", dest="json_out", metavar="PATH", help="also write the figures here as JSON")
    return ap


def load(args: argparse.Namespace):
    """The pair ``--pair`` names on ``--device``/``--dtype``, after setting ``--threads`` (0: as is)."""
    from r2route.pair import PairConfig, load_pair

    if getattr(args, "threads", 0):
        import torch

        torch.set_num_threads(args.threads)
    return load_pair(PairConfig(pair=args.pair, device=getattr(args, "device", "auto"), dtype=getattr(args, "dtype", "auto")))


def router_for(args: argparse.Namespace, pair) -> tuple:
    """(RouterBundle, description): ``--router``, else the pair's shipped router, else a fresh one of
    the default shape for this SLM."""
    import torch

    from r2route.router import RouterBundle, RouterConfig, RouterModel, load_router
    from r2route.router.shipped import shipped_router

    path = args.router or shipped_router(args.pair)
    if path:
        return load_router(path, pair.device), str(path)
    embed_size = int(pair.slm.embed(torch.tensor([0])).shape[-1])
    model = RouterModel(RouterConfig(hidden_size=pair.slm.hidden_size, embed_size=embed_size)).to(pair.device).eval()
    return RouterBundle(model=model), f"fresh, default shape ({model.num_params():,} parameters)"


def gsm8k_train(n: int) -> list[str]:
    """The first ``n`` GSM8K train questions; distinct arithmetic questions where the data is absent."""
    if not GSM8K_TRAIN.is_file():
        return [f"What is {i} plus {i * 3}?" for i in range(n)]
    from r2route.labeling.data import read_jsonl

    return [row["question"] for _, row in read_jsonl(GSM8K_TRAIN, n)]


def read_rows(path: str | Path) -> list[dict]:
    """A JSONL file's rows, read only; a torn last line (a writer mid-row) and what follows it are skipped."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def _plain(value):
    """NumPy scalars as Python numbers, for ``json.dumps``."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _line(row) -> str:
    return json.dumps(row, default=_plain, ensure_ascii=False) + "\n"


def _write(path: str | Path, data: bytes) -> None:
    from r2route.fileio import atomic_write_bytes

    atomic_write_bytes(Path(path), data)


def write_json(path: str | Path, obj) -> None:
    """``obj`` as indented JSON, replacing ``path`` atomically (keys in the order written)."""
    _write(path, (json.dumps(obj, indent=1, default=_plain, ensure_ascii=False) + "\n").encode("utf-8"))


def write_jsonl(path: str | Path, rows: Iterable) -> None:
    """One JSON object per line, replacing ``path`` atomically."""
    _write(path, "".join(_line(r) for r in rows).encode("utf-8"))


def append_jsonl(path: str | Path, rows: Iterable) -> None:
    """``path``'s lines plus one per row, written atomically (the whole file again: these files are small)."""
    old = Path(path).read_bytes() if Path(path).is_file() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    _write(path, old + "".join(_line(r) for r in rows).encode("utf-8"))


def median(values: Iterable[float]) -> float:
    """The median, NaN for no values."""
    v = list(values)
    return statistics.median(v) if v else math.nan


def percentile(values: Iterable[float], q: float) -> float:
    """The value at rank ⌊q·n⌋ of the sorted values (capped at the largest); NaN for no values."""
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else math.nan


def proc_status(*fields: str, pid: int | str = "self") -> dict[str, int]:
    """The named fields of ``/proc/PID/status`` in kB, as the kernel writes them (Linux)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in fields:
                out[name] = int(rest.split()[0])
    return out
