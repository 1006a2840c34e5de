"""The labeling pipeline: LLM answers → SLM prefill → continuations → verdicts → label table.

Work is cut into chunks of queries (by position in the data file); each step of each chunk is one
unit written atomically, so a run can be killed at any moment and rerun with the same command:
finished units are skipped, and the unit in flight is recomputed from the same state (fresh
caches), which makes the final tables byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .. import defaults
from ..errors import R2RouteError
from ..pair.pair import ModelPair
from ..engine.llamacpp_runner import CallShape
from ..engine.runners import make_runner
from .answers import answer_chunk
from .continuations import continue_chunk
from .contexts import Contexts
from .data import Query, read_queries
from .prefill import prefill_chunk
from .report import collect, plot_by_position, print_table
from ..fileio import atomic_write_json
from .store import RunDir, atomic_write_table
from .table import COLUMNS, label_table
from .verifiers import Verifier
from .writer import LocalWriter, RemoteWriter

FORMAT = 1


@dataclass
class LabelConfig:
    """Settings of a label run. All but ``limit`` must match when a run is resumed."""

    data: str
    field: str = "question"
    limit: int | None = None
    chunk: int = defaults.LABEL_CHUNK
    top_k: int = defaults.LABEL_TOP_K
    max_answer_tokens: int = defaults.LABEL_MAX_ANSWER_TOKENS
    continuation_tokens: int = defaults.LABEL_CONTINUATION_TOKENS
    max_mismatches: int | None = None  # per query; None = continue every mismatch
    slots: int = defaults.LABEL_SLOTS
    system: str | None = None
    keep_truncated: bool = False
    seed: int = defaults.SEED
    val_percent: int = defaults.LABEL_VAL_PERCENT

    def validate(self) -> None:
        for name in ("chunk", "top_k", "max_answer_tokens", "continuation_tokens", "slots"):
            if getattr(self, name) < 1:
                raise R2RouteError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(self, name)}")
        if self.max_mismatches is not None and self.max_mismatches < 1:
            raise R2RouteError(f"--max-mismatches must be ≥ 1, got {self.max_mismatches}")
        if not 0 <= self.val_percent <= 100:
            raise R2RouteError(f"--val-percent must be in [0, 100], got {self.val_percent}")

    def settings(self) -> dict:
        d = asdict(self)
        d.pop("limit")
        d["data"] = str(Path(self.data).resolve())
        return d


def llm_writer(pair: ModelPair, slots: int):
    return RemoteWriter(pair.llm) if pair.llm_is_remote else LocalWriter(pair.llm, pair.eos_token_ids("llm"), slots)


def _bar(desc: str, total: int | None, show: bool):
    return tqdm(total=total, desc=desc, unit="it", leave=False, position=1, disable=not show, dynamic_ncols=True)


# The settings that decide the LLM's answers (step 0): runs that agree on these share their answer units.
ANSWER_SETTINGS = ("data", "field", "chunk", "max_answer_tokens", "system", "keep_truncated", "slots")


def answers_source(reuse: str | Path | None, config: dict) -> RunDir | None:
    """Another label run whose answer units this one may take (``--reuse-answers``): same pair and
    the same answer settings, checked once here; a unit is taken only where it covers the same queries."""
    if reuse is None:
        return None
    other = Path(reuse) / "label-config.json"
    if not other.is_file():
        raise R2RouteError(f"--reuse-answers {reuse} holds no label run (no label-config.json)")
    theirs = json.loads(other.read_text())
    differ = [k for k in ANSWER_SETTINGS if theirs.get("settings", {}).get(k) != config["settings"].get(k)]
    if theirs.get("pair") != config["pair"] or differ:
        raise R2RouteError(f"--reuse-answers {reuse} was made with another pair or answer settings ({', '.join(differ) or 'pair'} differ)")
    return RunDir(reuse)


def run_labeling(pair: ModelPair, cfg: LabelConfig, out: str | Path, verifier: Verifier, writer=None, progress: bool = True,
                 reuse_answers: str | Path | None = None) -> dict:
    """Label ``cfg.data`` into ``out``; returns the run's statistics (also in label-stats.json).
    ``reuse_answers``: a label run of the same pair and answer settings whose LLM answers are copied
    instead of generated again (the answers do not depend on the verifier)."""
    cfg.validate()
    queries = read_queries(cfg.data, cfg.field, cfg.limit)
    run = RunDir(out)
    identity = pair.identity()
    config = {"format": FORMAT, "pair": identity, "handoff": pair.handoff, "settings": cfg.settings(), "verifier": verifier.describe()}
    source = answers_source(reuse_answers, config)
    run.claim(config)
    ctx = Contexts(pair, cfg.system)
    writer = writer or llm_writer(pair, cfg.slots)
    # the prefill wants logits at every answer position: llama.cpp calls of a fixed 64 outputs, the
    # size the stored label runs used (a call's size changes llama.cpp's sums, and with them the labels)
    slm_runner = make_runner(pair.slm, 1, defaults.CALL_COST_TOKENS_CPU,
                             call_shape=CallShape(defaults.LLAMACPP_BATCH, defaults.LLAMACPP_BATCH))
    chunks = [queries[i : i + cfg.chunk] for i in range(0, len(queries), cfg.chunk)]
    t0 = time.perf_counter()
    outer = tqdm(total=len(queries), desc="labeling", unit="query", disable=not progress, dynamic_ncols=True)
    units_run = 0
    for c, qs in enumerate(chunks):
        units_run += _label_chunk(run, c, qs, ctx, writer, slm_runner, verifier, cfg, progress, source)
        outer.update(len(qs))
    outer.close()
    stats = finish(run, pair, cfg, verifier, chunks, queries, time.perf_counter() - t0)
    stats["units_run"] = units_run
    return stats


def _label_chunk(run: RunDir, c: int, qs: list[Query], ctx: Contexts, writer, slm_runner, verifier: Verifier, cfg: LabelConfig, progress: bool,
                 source: RunDir | None = None) -> int:
    """Finish chunk ``c``; returns 0 if its shard already existed, else 1."""
    ids = [q.id for q in qs]
    if run.has_table("shards", c, ids):
        # a kill between writing the shard and deleting its features leaves them behind
        run.path("features", c).unlink(missing_ok=True)
        return 0
    ans = run.load_json("answers", c, ids)
    if ans is None and source is not None:
        ans = source.load_json("answers", c, ids)
        if ans is not None:
            atomic_write_json(run.path("answers", c), ans)
    if ans is None:
        writer.reset()
        with _bar("0 LLM answers", len(qs), progress) as p:
            ans = answer_chunk(ctx, writer, qs, cfg.max_answer_tokens, cfg.keep_truncated, p)
        atomic_write_json(run.path("answers", c), ans)
    if not run.has_table("features", c, ids):
        with _bar("1 SLM prefill", len(ans["answers"]), progress) as p:
            feats = prefill_chunk(slm_runner, ans["answers"], cfg.top_k, ctx.pair.slm.hidden_size,
                                  ctx.pair.slm.vocab_size, cfg.val_percent, p)
        atomic_write_table(run.path("features", c), feats.replace_schema_metadata({b"queries": _ids(ids)}))
    # Always read back what was written: a resumed chunk and a fresh one build the shard from the same bytes.
    feats = pq.read_table(run.path("features", c))
    cont = run.load_json("continuations", c, ids)
    if cont is None:
        mismatches: dict[int, list[tuple[int, int]]] = {}
        small = feats.select(["query_id", "position", "slm_token", "mismatch"]).to_pylist()
        for r in small:
            if r["mismatch"]:
                mismatches.setdefault(r["query_id"], []).append((r["position"], r["slm_token"]))
        writer.reset()
        with _bar("2 continuations", None, progress) as p:
            cont = continue_chunk(ctx, writer, ans["answers"], mismatches, ids, cfg.continuation_tokens, cfg.max_mismatches, cfg.seed, p,
                                  branch=verifier.branch, rejoin=getattr(verifier, "rejoin_tokens", defaults.LABEL_REJOIN_TOKENS))
        atomic_write_json(run.path("continuations", c), cont)
    ver = run.load_json("verdicts", c, ids)
    if ver is None:
        writer.reset()
        with _bar(f"3 verifier ({verifier.name})", len(cont["items"]), progress) as p:
            verdicts, raw = verifier.judge(cont["items"], p)
        ver = {"queries": ids, "verdicts": verdicts, "raw": raw}
        atomic_write_json(run.path("verdicts", c), ver)
    atomic_write_table(run.path("shards", c), label_table(feats, cont, ver["verdicts"], ids))
    run.path("features", c).unlink(missing_ok=True)
    return 1


def _ids(ids: list[int]) -> bytes:
    return json.dumps(ids).encode()


def finish(run: RunDir, pair: ModelPair, cfg: LabelConfig, verifier: Verifier, chunks: list[list[Query]], queries: list[Query], seconds: float) -> dict:
    """Write dataset.json, label-stats.json and labels_by_position.png from the shards."""
    shards = [run.path("shards", c) for c in range(len(chunks))]
    stats = collect(shards)
    dropped = 0
    for c, qs in enumerate(chunks):
        a = json.loads(run.path("answers", c).read_text(encoding="utf-8"))
        dropped += a["dropped"]
    stats["answers_dropped"] = dropped
    stats["queries_read"] = len(queries)
    atomic_write_json(run.root / "label-stats.json", stats)
    atomic_write_json(run.root / "dataset.json", {
        "format": FORMAT,
        "pair": pair.identity(),
        "handoff": pair.handoff,
        "slm_hidden_size": pair.slm.hidden_size,
        "slm_vocab_size": pair.slm.vocab_size,
        "settings": cfg.settings(),
        "verifier": verifier.describe(),
        "counts": {k: v for k, v in stats.items() if k != "by_position"},
        "shards": [str(p.relative_to(run.root)) for p in shards],
        "columns": COLUMNS,
    })
    plot_by_position(stats, run.root / "labels_by_position.png")
    stats["seconds"] = seconds
    return stats


__all__ = ["LabelConfig", "run_labeling", "print_table", "llm_writer"]
