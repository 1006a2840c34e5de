"""SLM-entropy thresholds per target LLM share, read from a calibration file.

`r2route calibrate` writes the file: the SLM decodes calibration records greedily on its own and
entropy's threshold for share s is the score that s of those tokens reach
(``evaluation/shared_calibration.py`` writes it, this module only reads it, so routing needs no
evaluation code). A preset pair ships one (``assets/calibration/<preset>.json``), which is what
lets ``--strategy entropy --llm-share S`` work without a router.

The share a calibration promises holds on text like its records: on other text the SLM is more or
less sure of itself, and the share a run measures (``--show-routing``, ``--json``) differs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import R2RouteError
from .io import check_pair_identity

FORMAT = "r2route-calibration"
# A target share is served by the calibrated share nearest to it, if that one is this close: the
# shipped files hold a 0.01 grid, so any share in their range to two decimals is met exactly.
SHARE_TOLERANCE = 0.005
# What a calibration must match: entropy thresholds depend on the SLM and how text becomes its tokens.
SLM_KEYS = ("slm", "tokenizer")


@dataclass(frozen=True)
class EntropyCalibration:
    """Entropy's threshold per calibrated LLM share, and the pair it was measured on."""

    source: str
    pair: dict
    thresholds: dict[float, float]
    records: int
    tokens: int

    def threshold_for_share(self, share: float) -> float:
        """The threshold calibrated for ``share``, or one line naming the shares the file holds."""
        if not 0.0 < share < 1.0:
            raise R2RouteError(f"an LLM share of {share:g} needs no calibration: use --strategy {'slm' if share <= 0 else 'llm'}")
        nearest = min(self.thresholds, key=lambda s: abs(s - share))
        if abs(nearest - share) > SHARE_TOLERANCE + 1e-12:
            have = sorted(self.thresholds)
            span = f"{have[0]:g}" if len(have) == 1 else f"{have[0]:g}–{have[-1]:g}"
            raise R2RouteError(f"{self.source} calibrates SLM entropy at LLM shares {span} ({len(have)} of them), not {share:g}: "
                               f"run r2route calibrate --llm-shares {share:g} --out FILE and give --calibration FILE")
        return self.thresholds[nearest]

    def check_pair(self, identity: dict) -> None:
        """Refuse a calibration measured with another SLM. Only the SLM counts: it alone decoded the
        calibration records and its entropy is the score, so any LLM may sit behind it."""
        check_pair_identity(self.pair, identity, f"calibration {self.source} was measured on", keys=SLM_KEYS)


def load_calibration(path: str | Path) -> EntropyCalibration:
    """Read a calibration file written by ``r2route calibrate``; any problem is one clear line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise R2RouteError(f"calibration file not found: {p} (make it with r2route calibrate)")
    try:
        d = json.loads(p.read_text())
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError("not written by r2route calibrate")
        thresholds = {float(s): float(t) for s, t in (d["thresholds"].get("entropy") or {}).items()}
        if not thresholds:
            raise ValueError("it holds no entropy thresholds")
        if not all(0.0 < s < 1.0 and math.isfinite(t) for s, t in thresholds.items()):
            raise ValueError("a share outside (0, 1) or a threshold that is not a number")
        pair, records, tokens = d["key"]["pair"], len(d["key"]["records"]), int(d["tokens"])
        if not (isinstance(pair, dict) and all(isinstance(pair.get(k), str) for k in SLM_KEYS)):
            raise ValueError("it names no SLM and tokenizer")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise R2RouteError(f"{p}: not a calibration file with SLM entropy thresholds ({e})") from None
    return EntropyCalibration(str(p), pair, thresholds, records, tokens)
