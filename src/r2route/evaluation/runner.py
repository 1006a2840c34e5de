"""`r2route eval`: every method × target LLM share over a task's records, resumably.

The run directory holds ``eval-config.json`` (what must not change on resume), ``calibration.json``
(thresholds per method and share, computed once, or read once from a shared calibration file made
by ``r2route calibrate``), ``probes.json`` (query-level scores), and
``results.jsonl``: one row per method × share × record, appended and fsynced after each batch.
A rerun skips the rows it finds; a line cut short by a crash is dropped and redone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .. import defaults
from ..engine import Engine, GenerationConfig
from ..engine.runners import check_runner_name
from ..errors import R2RouteError
from ..fileio import atomic_write_bytes, atomic_write_json, claim_run_dir
from ..pair.pair import ModelPair
from ..router.io import RouterBundle, router_fingerprint
from ..router.strategies import EntropyStrategy, LLMOnly, NeuralStrategy, RandomStrategy, SLMOnly
from .calibration import probe_score, query_thresholds, token_thresholds
from .graders import make_grader
from .shared_calibration import SharedCalibration, calibration_key, scorer_name
from .tasks import Task, task_signature

METHODS = ("slm", "llm", "neural", "entropy", "random", "query", "spec", "neural+verify", "entropy+verify")
ROUTED = ("neural", "entropy", "random", "query", "neural+verify", "entropy+verify")
CALIBRATED = ("neural", "entropy", "query")  # methods whose thresholds come from the calibration slice


def base(method: str) -> str:
    """The routing of a method: ``entropy+verify`` routes as ``entropy``, ``spec`` as ``slm``."""
    return "slm" if method == "spec" else method.split("+")[0]


def verified(method: str) -> bool:
    """Methods where the LLM checks every token (lossless at margin 0): speculative decoding, and a
    router deciding when the LLM checks."""
    return method == "spec" or method.endswith("+verify")


@dataclass
class EvalConfig:
    """Settings of an evaluation run. ``methods``, ``shares`` and ``limit`` may grow on resume."""

    methods: tuple[str, ...] = METHODS
    shares: tuple[float, ...] = defaults.EVAL_LLM_SHARES
    max_new_tokens: int = defaults.EVAL_MAX_NEW_TOKENS
    batch: int = defaults.EVAL_BATCH
    probe_tokens: int = defaults.EVAL_PROBE_TOKENS
    seed: int = defaults.SEED
    accept_margin: float = defaults.ACCEPT_MARGIN  # the verified methods' acceptance margin
    max_draft: int = defaults.MAX_DRAFT  # spec's draft length; the verified methods' longest draft
    runner: str = defaults.RUNNER  # how each model runs: auto or a name in engine.runners.RUNNERS
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise R2RouteError(f"--methods must be a non-empty subset of {','.join(METHODS)}, got {','.join(self.methods) or 'none'}")
        if any(not 0.0 < s < 1.0 for s in self.shares):
            # 0 and 1 are the slm and llm methods themselves: a routed method there measures nothing new
            raise R2RouteError(f"--llm-shares must lie in (0, 1) (the slm and llm methods are the ends), got {','.join(map(str, self.shares))}")
        if any(m in ROUTED for m in self.methods) and not self.shares:
            raise R2RouteError("routed methods need --llm-shares")
        if self.accept_margin < 0:
            raise R2RouteError(f"--accept-margin must be ≥ 0, got {self.accept_margin}")
        check_runner_name(self.runner)  # before the run directory is claimed
        for name in ("max_new_tokens", "batch", "probe_tokens", "max_draft"):
            if getattr(self, name) < 1:
                raise R2RouteError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(self, name)}")

    def fixed(self) -> dict:
        d = asdict(self)
        # the runner, like --device, says how the models run, not what a run measures: a resumed run may change it
        for k in ("methods", "shares", "batch", "runner"):
            d.pop(k)
        for k in ("accept_margin", "max_draft"):  # run directories that record neither resume while they keep their defaults
            if d[k] == getattr(defaults, k.upper()):
                d.pop(k)
        return d


class ResultsFile:
    """``results.jsonl``: rows appended per batch; rows cut short by a crash are dropped on open."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []
        if path.is_file():
            raw = path.read_bytes()
            good: list[bytes] = []
            for line in raw.splitlines(keepends=True):
                try:
                    self.rows.append(json.loads(line))
                    good.append(line if line.endswith(b"\n") else line + b"\n")
                except json.JSONDecodeError:
                    break  # a torn final line; everything after it is dropped too
            if b"".join(good) != raw:
                atomic_write_bytes(path, b"".join(good))
        self.done = {(r["method"], r["share"], r["id"]) for r in self.rows}

    def append(self, rows: list[dict]) -> None:
        with open(self.path, "ab") as f:
            for r in rows:
                f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        self.rows.extend(rows)
        self.done.update((r["method"], r["share"], r["id"]) for r in rows)


def eval_engine(pair: ModelPair, batch: int, runner: str) -> Engine:
    """The engine every evaluation and calibration pass decodes with. No cross-request prefix reuse
    and batch-invariant sums: a row's tokens depend only on its prompt and settings, never on its
    batch-mates or the methods run before it."""
    return Engine(pair, SLMOnly(), max_batch=batch, prefix_cache=False, invariant=defaults.EVAL_BATCH_INVARIANT, runner=runner)


class Evaluation:
    """One task on one pair: calibrate, then run the pending rows of every method and share.
    ``calibration``: a file made by ``r2route calibrate`` to read the thresholds from instead of
    decoding the calibration records again."""

    def __init__(self, pair: ModelPair, task: Task, cfg: EvalConfig, out: str | Path, router: RouterBundle | None,
                 progress: bool = True, calibration: str | Path | None = None):
        cfg.validate()
        if any(base(m) == "neural" for m in cfg.methods) and router is None:
            raise R2RouteError("method neural needs a router: --router PATH (or a pair with a shipped router)")
        self.pair, self.task, self.cfg, self.out, self.router = pair, task, cfg, Path(out), router
        self.progress = progress
        self.shared = None
        if calibration is not None:
            if not Path(calibration).is_file():
                raise R2RouteError(f"--calibration {calibration}: no such file (make it with r2route calibrate)")
            self.shared = SharedCalibration(calibration, calibration_key(pair, task, cfg.max_new_tokens, cfg.runner))
            # a file that lacks a threshold this run needs is refused before the run directory is touched
            for _, name, what in self._shared_scorers(router):
                self.shared.thresholds(name, list(cfg.shares), what)
        self.engine = eval_engine(pair, cfg.batch, cfg.runner)
        self.grader = make_grader(task.grader)
        self.gen = GenerationConfig(max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
        settings = {
            "pair": pair.identity(), "params": {"slm": pair.slm.params.total, "llm": pair.llm_params},
            "task": json.loads(task_signature(task)), "settings": cfg.fixed(),
            "router": router_fingerprint(router) if any(base(m) == "neural" for m in cfg.methods) else None,
        }
        self._adopt_router(settings)
        claim_run_dir(self.out, "eval-config.json", settings, "evaluation")
        self.results = ResultsFile(self.out / "results.jsonl")
        self._probes: dict[str, dict] | None = None

    def _adopt_router(self, settings: dict) -> None:
        """A run may start without the neural method and add it later (its router is then recorded
        once); a run that has a router keeps it, and another router is refused by the guard."""
        path = self.out / "eval-config.json"
        if not path.is_file():
            return
        old = json.loads(path.read_text())
        if settings["router"] is None:
            settings["router"] = old.get("router")
        elif old.get("router") is None and {k: v for k, v in old.items() if k != "router"} == {k: v for k, v in settings.items() if k != "router"}:
            atomic_write_json(path, {**old, "router": settings["router"]})

    def _shared_scorers(self, router: RouterBundle | None) -> list[tuple[str, str, str]]:
        """The shared file's scorers this run reads: (method, name in the file, what it is)."""
        used = {base(m) for m in self.cfg.methods}
        return ([("entropy", "entropy", "SLM entropy")] if "entropy" in used else []) + (
            [("neural", scorer_name(router), "this router")] if "neural" in used else [])

    def prompt(self, text: str):
        return self.pair.encode(text, system=self.task.system)

    # --- calibration ---------------------------------------------------------------------------

    def calibration(self) -> dict:
        path = self.out / "calibration.json"
        cal = json.loads(path.read_text()) if path.is_file() else {}
        used = {base(m) for m in self.cfg.methods} & set(CALIBRATED)
        shares = [s for s in self.cfg.shares if any(str(s) not in cal.get(m, {}) for m in used)]
        if not shares:
            return cal
        prompts = [self.prompt(r.prompt) for r in self.task.calibration]
        t0 = time.perf_counter()
        if self.shared is not None:
            for method, name, what in self._shared_scorers(self.router):
                # only the shares this method lacks: a threshold that rows of this run used never changes
                lack = [s for s in self.cfg.shares if str(s) not in cal.get(method, {})]
                cal.setdefault(method, {}).update(self.shared.thresholds(name, lack, what))
            cal["tokens"], cal["from"] = self.shared.data["tokens"], str(self.shared.path)
        else:
            scorers = {"entropy": EntropyStrategy(0.0)}
            if "neural" in used:
                scorers["neural"] = NeuralStrategy(self.router, 0.0)
            tok = token_thresholds(self.engine, prompts, scorers, list(self.cfg.shares), self.cfg.max_new_tokens, self.progress)
            for name in scorers:
                cal.setdefault(name, {}).update(tok[name])
            cal["tokens"] = tok["tokens"]
        if "query" in used:
            scores = [probe_score(self.engine, p, self.cfg.probe_tokens)
                      for p in tqdm(prompts, desc="calibration (query probes)", disable=not self.progress, leave=False)]
            cal.setdefault("query", {}).update(query_thresholds(scores, list(self.cfg.shares)))
        cal["records"] = [r.id for r in self.task.calibration]
        cal["seconds"] = cal.get("seconds", 0.0) + time.perf_counter() - t0
        atomic_write_json(path, cal)
        return cal

    def probes(self, ids: list[int]) -> dict[str, dict]:
        """Query-level scores of evaluated records (and the SLM seconds each probe took), read from
        ``probes.json`` once and kept; the missing ones are probed and saved."""
        path = self.out / "probes.json"
        if self._probes is None:
            self._probes = json.loads(path.read_text()) if path.is_file() else {}
        probes = self._probes
        todo = [r for r in self.task.records if r.id in ids and str(r.id) not in probes]
        for r in tqdm(todo, desc="query probes", disable=not self.progress or not todo, leave=False):
            t = time.perf_counter()
            s = probe_score(self.engine, self.prompt(r.prompt), self.cfg.probe_tokens)
            probes[str(r.id)] = {"score": s, "seconds": time.perf_counter() - t}
            atomic_write_json(path, probes)
        return probes

    # --- the run ---------------------------------------------------------------------------------

    def units(self) -> list[tuple[str, float | None]]:
        return [(m, s) for m in self.cfg.methods for s in (self.cfg.shares if m in ROUTED else [None])]

    def strategies(self, method: str, share: float | None, cal: dict, records) -> list:
        method = base(method)
        if method == "slm":
            return [SLMOnly()] * len(records)
        if method == "llm":
            return [LLMOnly()] * len(records)
        if method == "random":
            return [RandomStrategy(share)] * len(records)
        th = cal[method][str(share)]
        if method == "entropy":
            return [EntropyStrategy(th)] * len(records)
        if method == "neural":
            return [NeuralStrategy(self.router, th)] * len(records)
        probes = self.probes([r.id for r in records])
        return [LLMOnly() if probes[str(r.id)]["score"] >= th else SLMOnly() for r in records]

    def run(self) -> list[dict]:
        units = self.units()
        pending = {u: [r for r in self.task.records if (u[0], u[1], r.id) not in self.results.done] for u in units}
        total = sum(len(v) for v in pending.values())
        needs_cal = any(pending[(m, s)] for m, s in units if base(m) in CALIBRATED)
        cal = self.calibration() if needs_cal else {}
        bar = tqdm(total=total, desc=f"eval {self.task.name}", unit="row", disable=not self.progress, dynamic_ncols=True)
        # Record-major: every method and share finishes a wave of records before the next wave
        # starts, so a run stopped anywhere compares all methods on the same (growing) records.
        waiting = {id(r) for v in pending.values() for r in v}
        order = [r for r in self.task.records if id(r) in waiting]
        for i in range(0, len(order), self.cfg.batch):
            wave = {id(r) for r in order[i : i + self.cfg.batch]}
            for (method, share), records in pending.items():
                batch = [r for r in records if id(r) in wave]
                if not batch:
                    continue
                bar.set_postfix_str(f"{method}{'' if share is None else f'@{share:g}'}")
                self.results.append(self._run_batch(method, share, cal, batch))
                bar.update(len(batch))
        bar.close()
        return self.results.rows

    def _run_batch(self, method: str, share: float | None, cal: dict, batch) -> list[dict]:
        strats = self.strategies(method, share, cal, batch)
        t = time.perf_counter()
        # one seed per record: random routing draws independently across records, reproducibly
        gen = self.gen
        if verified(method):
            gen = dataclasses.replace(gen, verify="all", accept_margin=self.cfg.accept_margin, max_draft=self.cfg.max_draft)
        gens = [dataclasses.replace(gen, seed=self.cfg.seed + r.id) for r in batch]
        results, _ = self.engine.generate([self.prompt(r.prompt) for r in batch], gens, strategy=strats)
        wall = (time.perf_counter() - t) / len(batch)
        probes = self._probes if base(method) == "query" else {}
        rows = []
        for r, res in zip(batch, results):
            g = self.grader.grade(res.text, r.gold)
            probe_s = probes.get(str(r.id), {}).get("seconds", 0.0)
            rows.append({
                "method": method, "share": share, "id": r.id, "correct": bool(g["correct"]), "extracted": g.get("extracted"),
                "status": g.get("status"), "tokens": res.stats.tokens, "llm_tokens": res.stats.llm_tokens,
                "seconds": res.stats.seconds + probe_s, "wall": wall + probe_s, "finish_reason": res.finish_reason,
                "threshold": cal.get(base(method), {}).get(str(share)) if base(method) in CALIBRATED else None,
                "llm_calls": res.stats.llm_calls, "rollbacks": res.stats.rollbacks, "wasted_slm_tokens": res.stats.wasted_slm_tokens,
                "completion": res.text,
            })
        return rows
