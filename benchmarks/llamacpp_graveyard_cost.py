"""Does an invariant llama.cpp runner's graveyard slow decoding? (cells kept after rollbacks and releases)

    python benchmarks/llamacpp_graveyard_cost.py

Times 4 rows x 48 greedy steps on the default pair's SLM (Qwen2.5-0.5B, llama.cpp) on an invariant
runner with an empty graveyard, twice, then once more with ~2,300 cells buried below the rows:
flash attention then walks ~4x the cells, most of them masked. Prints both times and their ratio.
"""

import time

from r2route.engine.runners import make_runner
from r2route.pair import PairConfig, load_pair

ROWS, STEPS = 4, 48


def decode(runner) -> float:
    """Seconds for STEPS greedy steps of ROWS rows after their prompts; the rows are then released."""
    seqs = [list(range(1000 + 100 * i, 1100 + 100 * i)) for i in range(ROWS)]
    slots = list(range(ROWS))
    t = 0.0
    for step in range(STEPS + 1):
        start = time.perf_counter()
        _, logits = runner.catch_up(slots, seqs)
        if step:  # step 0 is the prompts' prefill
            t += time.perf_counter() - start
        for seq, row in zip(seqs, logits):
            seq.append(int(row.argmax()))
    for s in slots:
        runner.truncate(s, 0)
    return t


def main() -> None:
    runner = make_runner(load_pair(PairConfig(pair="default")).slm, ROWS, context=768, invariant=True)
    empty = min(decode(runner) for _ in range(2))
    while runner.buried < 2300:
        runner.catch_up([0], [list(range(5000, 5300))])
        runner.truncate(0, 0)
    buried = runner.buried
    full = decode(runner)
    print(f"{ROWS} rows x {STEPS} steps: empty graveyard {empty:.2f} s, above {buried} buried cells {full:.2f} s, "
          f"ratio {full / empty:.3f} (buffer {runner.capacity} cells)")


if __name__ == "__main__":
    main()
