"""Thresholds of several routers from one calibration pass, shared by evaluation runs.

Calibration is the SLM's greedy decoding of the calibration records, and that trajectory does not
depend on the router being calibrated: the recorder never routes. So one pass can record SLM
entropy and any number of routers side by side, and each ``r2route eval --calibration FILE`` run
then reads its router's thresholds instead of decoding the calibration records again (on the
default pair's CPU setting, 128 records at 512 tokens take 15–25 minutes a pass).

The file holds a ``key``: everything that decides the trajectory and its scores (the pair, how the
SLM runs: device, dtype, runner; the calibration prompts as the SLM's token ids, so the chat
template and system message count; the token budget). An evaluation whose key differs is refused,
so a threshold is only ever used where its own calibration would have computed it; `generate`,
`chat` and `serve` read the entropy thresholds of such a file for a target share and check only its
SLM (``router/calibration.py``). Routers are named by
their fingerprint (weights and threshold), never by path.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ..engine.runners import resolve_runner
from ..errors import R2RouteError
from ..fileio import atomic_write_json
from ..pair.prompts import PairPrompt
from ..router.calibration import FORMAT
from ..router.io import RouterBundle, router_fingerprint
from ..router.strategies import EntropyStrategy, NeuralStrategy
from .calibration import token_thresholds


def calibration_key(pair, task, max_new_tokens: int, runner: str) -> dict:
    """What must match for thresholds to carry over between runs: the pair and how its SLM runs,
    the calibration prompts as the SLM reads them, and how many tokens each may decode."""
    ids = []
    for r in task.calibration:
        p = pair.encode(r.prompt, system=task.system)
        ids.append(list(p.slm if isinstance(p, PairPrompt) else p))
    slm = pair.slm
    return {"pair": pair.identity(), "device": slm.device.type, "dtype": str(slm.dtype).replace("torch.", ""),
            "runner": resolve_runner(slm, runner), "records": [r.id for r in task.calibration],
            "prompts_sha256": hashlib.sha256(json.dumps(ids).encode()).hexdigest(), "max_new_tokens": max_new_tokens}


def scorer_name(router: RouterBundle | None) -> str:
    """``entropy`` for SLM entropy, ``router:<fingerprint>`` for a router."""
    return "entropy" if router is None else f"router:{router_fingerprint(router)}"


def _well_formed(d) -> bool:
    """The shape ``SharedCalibration`` writes (anything else is refused in one line, not a traceback)."""
    return (isinstance(d, dict) and d.get("format") == FORMAT and isinstance(d.get("key"), dict)
            and isinstance(d.get("thresholds"), dict) and all(isinstance(v, dict) for v in d["thresholds"].values())
            and isinstance(d.get("routers"), dict) and isinstance(d.get("tokens"), int)
            and isinstance(d.get("seconds"), (int, float)))


class SharedCalibration:
    """One calibration file: ``{format, key, thresholds: {scorer: {share: threshold}}, routers,
    tokens, seconds}``. Written atomically; a pass adds the scorers it recorded."""

    def __init__(self, path: str | Path, key: dict):
        self.path, self.key = Path(path), key
        self.data = {"format": FORMAT, "key": key, "thresholds": {}, "routers": {}, "tokens": 0, "seconds": 0.0}
        if self.path.exists():
            try:
                old = json.loads(self.path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise R2RouteError(f"{self.path}: not a calibration file ({e})") from None
            if not _well_formed(old):
                raise R2RouteError(f"{self.path}: not a calibration file (made by r2route calibrate)")
            differ = sorted(k for k in set(key) | set(old["key"]) if key.get(k) != old["key"].get(k))
            if differ:
                raise R2RouteError(f"{self.path} was calibrated with another {', '.join(differ)}: its thresholds do not "
                                   "hold here (calibrate again into another file)")
            self.data = old

    def missing(self, names: list[str], shares: list[float]) -> list[str]:
        """The scorers that lack a threshold at one of ``shares``."""
        th = self.data["thresholds"]
        return [n for n in names if any(str(s) not in th.get(n, {}) for s in shares)]

    def thresholds(self, name: str, shares: list[float], what: str) -> dict:
        """``{share: threshold}`` of one scorer; one clear line if the file lacks any of them."""
        have = self.data["thresholds"].get(name, {})
        lack = [s for s in shares if str(s) not in have]
        if lack:
            raise R2RouteError(f"{self.path} has no threshold for {what} at LLM share {', '.join(map(str, lack))}: "
                               "run r2route calibrate with it first")
        return {str(s): have[str(s)] for s in shares}

    def record(self, engine, prompts: list, routers: dict[str, RouterBundle], shares: list[float], max_new_tokens: int,
               progress: bool = True) -> None:
        """One SLM pass over ``prompts`` that records entropy and every router in ``routers``
        (``{label: bundle}``, the label only for the reader), then saves the file."""
        scorers = {"entropy": EntropyStrategy(0.0)}
        for label, bundle in routers.items():
            name = scorer_name(bundle)
            scorers[name] = NeuralStrategy(bundle, 0.0)
            self.data["routers"][name] = label
        t0 = time.perf_counter()
        tok = token_thresholds(engine, prompts, scorers, shares, max_new_tokens, progress)
        for name in scorers:
            self.data["thresholds"].setdefault(name, {}).update(tok[name])
        self.data["tokens"] = tok["tokens"]
        self.data["seconds"] += time.perf_counter() - t0
        atomic_write_json(self.path, self.data)
