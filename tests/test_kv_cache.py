"""The per-slot KV cache: any order of uneven catch-ups equals a full forward from scratch."""

import random

import torch

from r2route.engine.eager_runner import EagerRunner as ModelRunner
from r2route.engine.runner import plan_groups


def full_logits(model, seq):
    with torch.no_grad():
        return model(torch.tensor([seq])).logits[0, -1].float()


def test_ragged_catch_up_matches_full_forward(pair):
    rng = random.Random(0)
    runner = ModelRunner(pair.llm, num_slots=5)
    seqs = [[rng.randrange(3, 1024) for _ in range(rng.randrange(1, 30))] for _ in range(5)]
    for _ in range(12):
        slots = sorted(rng.sample(range(5), rng.randrange(1, 6)))
        for s in slots:  # each chosen slot gains 0..9 tokens; unseen ones are always ≥ 1
            seqs[s] += [rng.randrange(3, 1024) for _ in range(rng.randrange(0, 10))]
        slots = [s for s in slots if len(seqs[s]) > runner.seen(s)]
        if not slots:
            continue
        _, logits = runner.catch_up(slots, [seqs[s] for s in slots])
        for i, s in enumerate(slots):
            assert runner.seen(s) == len(seqs[s])
            torch.testing.assert_close(logits[i], full_logits(pair.llm.model, seqs[s]), atol=1e-4, rtol=1e-4)


def test_non_contiguous_slots_and_reset(pair):
    runner = ModelRunner(pair.slm, num_slots=4)
    a, b = [5, 6, 7, 8], [9, 10]
    runner.catch_up([0, 3], [a, b])
    runner.reset(0)
    c = [11, 12, 13]
    _, logits = runner.catch_up([3, 0], [b + [14], c])
    torch.testing.assert_close(logits[0], full_logits(pair.slm.model, b + [14]), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits[1], full_logits(pair.slm.model, c), atol=1e-4, rtol=1e-4)


def test_cache_grows_past_its_first_capacity(pair):
    runner = ModelRunner(pair.slm, num_slots=1)
    runner.cache.capacity_step = 8
    seq = list(range(3, 40))
    for end in (5, 13, 14, 37):
        _, logits = runner.catch_up([0], [seq[:end]])
    torch.testing.assert_close(logits[0], full_logits(pair.slm.model, seq), atol=1e-4, rtol=1e-4)


def test_lm_head_matches_model_logits(pair):
    runner = ModelRunner(pair.slm, num_slots=1)
    seq = [7, 8, 9, 10]
    _, logits = runner.catch_up([0], [seq])
    torch.testing.assert_close(logits[0], full_logits(pair.slm.model, seq), atol=1e-5, rtol=1e-5)


def test_plan_groups_is_optimal_and_covers_every_row():
    def cost(groups, counts, k):
        return sum(k + max(counts[i] for i in g) * len(g) for g in groups)

    def partitions(items):
        if not items:
            yield []
            return
        first, rest = items[0], items[1:]
        for p in partitions(rest):
            for i in range(len(p)):
                yield p[:i] + [[first] + p[i]] + p[i + 1:]
            yield [[first]] + p

    for counts in ([1, 1, 1, 40, 3, 1, 38], [5], [2, 9, 9, 1], [30, 1, 15, 2, 7]):
        for k in (0.5, 8.0, 32.0, 1000.0):
            groups = plan_groups(counts, k)
            assert sorted(i for g in groups for i in g) == list(range(len(counts)))
            brute = min(cost(p, counts, k) for p in partitions(list(range(len(counts)))))
            assert cost(groups, counts, k) == brute
    assert plan_groups([1, 1, 1], 32.0) == [[0, 1, 2]]
    assert len(plan_groups([50, 1, 1], 1000.0)) == 1
    assert len(plan_groups([500, 1, 1], 32.0)) == 2

