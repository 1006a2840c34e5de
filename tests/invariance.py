"""A row decoded on an invariant llama.cpp runner, for the batch-invariance tests."""

import torch

from r2route.engine.runners import make_runner


def invariant_decode(lm, seqs, target: int, steps: int = 12, first_feeds=(), hidden: bool = True, context=None, between=None):
    """Greedy-decode ``seqs`` together on an invariant runner; the target row's logits per step.
    ``first_feeds``: prompt lengths at which the target's prompt is fed before the rest (another
    chunking of the same prompt). ``hidden=False``: the LLM's runner (no hidden states; llama.cpp's
    output head sees only the rows asked for). ``between(step, runner, seqs)``: runs before each
    step (batch-mates rolled back or replaced)."""
    runner = make_runner(lm, len(seqs), invariant=True, hidden=hidden, context=context)
    seqs = [list(s) for s in seqs]
    for end in first_feeds:
        runner.forward([target], [seqs[target]], [end], [[end - 1]])
    out = []
    for step in range(steps):
        if between is not None:
            between(step, runner, seqs)
        _, logits = runner.catch_up(list(range(len(seqs))), seqs)
        out.append(logits[target].clone())
        for i, row in enumerate(logits):
            seqs[i].append(int(row.argmax()))
    return torch.stack(out)
