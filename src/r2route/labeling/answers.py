"""Step 0: the LLM answers every query greedily with the chat template.

Only answers that end with the LLM's end-of-answer token inside the budget are kept: a cut answer
would teach the router positions the LLM never finished (``keep_truncated`` overrides, for random
test models that rarely stop).
"""

from __future__ import annotations

from .contexts import Contexts
from .data import Query


def answer_chunk(ctx: Contexts, writer, queries: list[Query], max_tokens: int, keep_truncated: bool, progress=None) -> dict:
    prompts = [ctx.prompt(q.text) for q in queries]
    written = writer.generate([p.llm for p in prompts], max_tokens, progress=progress)
    records, dropped = [], 0
    for q, p, w in zip(queries, prompts, written):
        answer = ctx.answer_in_slm_space(w.text, w.ids, w.ended)
        if not (w.ended or keep_truncated) or not answer:
            dropped += 1
            continue
        records.append({"id": q.id, "query": q.text, "prompt": p.slm, "answer": answer, "text": w.text, "ended": w.ended,
                        "llm_tokens": len(w.ids) if w.ids is not None else None})
    return {"queries": [q.id for q in queries], "answers": records, "dropped": dropped}
