"""Step 2: at each mismatch, the LLM continues from the SLM's token.

``branch="sentence"`` (the paper's): to the end of the sentence. The reference is the LLM's own
answer from the same position, cut by the same sentence rule (:mod:`.sentences`) and token cap.

``branch="answer"`` (the outcome verifier's): to the end of the answer, or until the branch
re-joins the reference (:func:`.outcome.rejoined`). Each item then also carries both final answers.

When a query has more mismatches than ``max_per_query``, a uniform sample of them (seeded by the
query id) is continued and the rest are marked unjudged.
"""

from __future__ import annotations

import random

from .contexts import Contexts
from .outcome import final_answer, rejoined
from .sentences import context_tail, cut_sentence, ends_sentence


def pick_mismatches(positions: list[int], query_id: int, max_per_query: int | None, seed: int) -> list[int]:
    if max_per_query is None or len(positions) <= max_per_query:
        return list(positions)
    return sorted(random.Random(seed * 1_000_003 + query_id).sample(positions, max_per_query))


def _rejoin_rule(ctx: Contexts, reference: str, n: int):
    """Per-branch stop: the last ``n`` generated tokens re-join ``reference``."""

    def stop(text: str, ids: list[int]) -> bool:
        return len(ids) >= n and rejoined(text, ctx.llm_decode(ids[-n:]), reference)

    return stop


def continue_chunk(ctx: Contexts, writer, answers: list[dict], mismatches: dict[int, list[tuple[int, int]]], queries: list[int],
                   cap: int, max_per_query: int | None, seed: int, progress=None, branch: str = "sentence", rejoin: int = 8) -> dict:
    """``mismatches``: per query id, its (position, SLM token) pairs in order."""
    to_answer = branch == "answer"
    items, jobs, leads, job_items, stops = [], [], [], [], []
    by_id = {a["id"]: a for a in answers}
    for qid in sorted(mismatches):
        rec = by_id[qid]
        answer = rec["answer"]
        qp = ctx.prompt(rec["query"])
        all_pos = [p for p, _ in mismatches[qid]]
        chosen = set(pick_mismatches(all_pos, qid, max_per_query, seed))
        whole = ctx.decode(answer) if to_answer else ""
        for pos, slm_tok in mismatches[qid]:
            if pos not in chosen:
                continue
            prefix = ctx.decode(answer[:pos])
            full = ctx.decode(answer[: pos + cap])
            ref_raw = full[len(prefix):] if full.startswith(prefix) else ctx.decode(answer[pos : pos + cap])
            lead = ctx.piece(answer, pos, slm_tok, prefix)
            item = {"query_id": qid, "position": pos, "slm_token": slm_tok, "llm_token": answer[pos],
                    "context": context_tail(prefix), "reference": cut_sentence(ref_raw), "candidate": None}
            items.append(item)
            if to_answer:
                item.update(reference_final=final_answer(whole), branch_final=None, rejoined=False, ended=True)
                if slm_tok in ctx.slm_eos_ids:  # the SLM ends the answer here: its final answer is the prefix's
                    item.update(candidate="", branch_final=final_answer(prefix))
                    continue
                stops.append(_rejoin_rule(ctx, whole[len(prefix):] if whole.startswith(prefix) else ref_raw, rejoin))
            elif slm_tok in ctx.slm_eos_ids or ends_sentence(lead):
                item["candidate"] = cut_sentence(lead)  # the SLM's token ends the answer or the sentence
                continue
            jobs.append(ctx.llm_context(qp, answer, pos, slm_tok, prefix + lead))
            leads.append(lead)
            job_items.append((item, prefix))
    if progress is not None:
        progress.total = len(jobs)
        progress.refresh()
    if jobs:
        written = writer.generate(jobs, max(cap - 1, 1), stop=None if to_answer else ends_sentence, lead=leads, progress=progress,
                                  stops=stops if to_answer and not writer.remote else None)
        for i, ((item, prefix), lead, w) in enumerate(zip(job_items, leads, written)):
            if not to_answer:
                item["candidate"] = cut_sentence(lead + w.text)
                continue
            text = lead + w.text
            # Why it stopped: the answer ended, it re-joined the reference, or it hit the cap.
            back = not w.ended and w.ids is not None and stops[i](text, w.ids)
            item.update(candidate=text, rejoined=back, ended=w.ended or back, branch_final=None if back else final_answer(prefix + text))
    n_mis = sum(len(v) for v in mismatches.values())
    return {"queries": queries, "items": items, "mismatches": n_mis, "continued": len(items)}
