"""The Runner interface checked the same way for every backend (eager, static, graph, graph-compiled,
llama.cpp)."""

import random

import torch

from r2route.engine.runner import Runner


def full_logits(model, seq):
    with torch.no_grad():
        return model(torch.tensor([seq], device=model.device)).logits[0, -1].float().cpu()


def check_runner(runner, model, num_slots: int, atol: float = 1e-4):
    """``runner`` (num_slots slots, empty) honours every verb of :class:`Runner`: ragged catch-ups,
    multi-output forwards, truncation, reset and prefix copies, each against ``model``'s full
    forward from scratch (``model``: the transformers model of the same weights)."""
    assert isinstance(runner, Runner)
    rng = random.Random(0)
    seqs = [[rng.randrange(3, 1000) for _ in range(rng.randrange(1, 25))] for _ in range(num_slots)]
    calls = runner.calls
    for step in range(10):
        slots = sorted(rng.sample(range(num_slots), rng.randrange(1, num_slots + 1)))
        for s in slots:
            seqs[s] += [rng.randrange(3, 1000) for _ in range(rng.randrange(0, 7))]
        if step == 4:  # roll one slot back mid-way: the rest of its cache must be ignored
            s = slots[0]
            runner.truncate(s, 3)
            seqs[s] = seqs[s][:3] + [rng.randrange(3, 1000) for _ in range(4)]
        slots = [s for s in slots if len(seqs[s]) > runner.seen(s)]
        if not slots:
            continue
        _, logits = runner.catch_up(slots, [seqs[s] for s in slots])
        for i, s in enumerate(slots):
            assert runner.seen(s) == len(seqs[s]) and runner.held[s] == seqs[s]
            torch.testing.assert_close(logits[i].cpu(), full_logits(model, seqs[s]), atol=atol, rtol=atol)
    assert runner.calls > calls and runner.tokens_fed > 0

    # forward: several outputs per row, at absolute positions fed in this call
    a, b = 0, num_slots - 1
    runner.reset(a)
    runner.truncate(b, 2)
    seqs[a] = [7, 8, 9, 10, 11]
    seqs[b] = seqs[b][:2] + [12, 13, 14]
    _, logits = runner.forward([a, b], [seqs[a], seqs[b]], [5, 5], [[1, 4], [3]])
    torch.testing.assert_close(logits[0].cpu(), full_logits(model, seqs[a][:2]), atol=atol, rtol=atol)
    torch.testing.assert_close(logits[1].cpu(), full_logits(model, seqs[a]), atol=atol, rtol=atol)
    torch.testing.assert_close(logits[2].cpu(), full_logits(model, seqs[b][:4]), atol=atol, rtol=atol)

    # copy_prefix: dst continues from src's first tokens
    runner.copy_prefix(a, b, 4)
    assert runner.seen(b) == 4 and runner.held[b] == seqs[a][:4]
    _, logits = runner.catch_up([b], [seqs[a][:4] + [20, 21]])
    torch.testing.assert_close(logits[0].cpu(), full_logits(model, seqs[a][:4] + [20, 21]), atol=atol, rtol=atol)
