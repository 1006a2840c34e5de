"""`r2route label`: router training data from a pair and a JSONL file of queries, resumably."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import defaults
from ..errors import R2RouteError
from .options import Only, PairFlags, build_pair, flag_groups


@flag_groups
def label(
    *,
    data: Annotated[str, typer.Option("--data", help="JSONL file of queries, e.g. ../shared/data/gsm8k/train.jsonl.")],
    out: Annotated[str, typer.Option("--out", help="Run directory (created; a rerun resumes it).")],
    field: Annotated[str, typer.Option("--field", help="The JSON field that holds the query.")] = "question",
    limit: Annotated[Optional[int], typer.Option("--limit", help="Label the first N queries (a later run may raise it).")] = None,
    # labeling counts no activated parameters, so it takes no --llm-params
    models: Annotated[PairFlags, Only("pair", "slm", "llm", "llm_url", "llm_model", "llm_tokenizer", "llm_api_key", "device", "dtype")],
    verifier: Annotated[Optional[str], typer.Option("--verifier", help=f"rule, llm (the pair's LLM), embedding, outcome (final answers of branches to the answer end), or a model spec for another verifier LLM (default: {defaults.LABEL_VERIFIER}; llm with --verifier-url).")] = None,
    verifier_url: Annotated[Optional[str], typer.Option("--verifier-url", help="An OpenAI-compatible server for the verifier LLM.")] = None,
    verifier_model: Annotated[Optional[str], typer.Option("--verifier-model", help="The model name on --verifier-url.")] = None,
    verifier_api_key: Annotated[Optional[str], typer.Option("--verifier-api-key", envvar="R2ROUTE_VERIFIER_API_KEY", help="API key for --verifier-url.")] = None,
    verifier_prompt: Annotated[str, typer.Option("--verifier-prompt", help="Version of the LLM verifier's prompt (labeling/prompts/*.txt).")] = defaults.LABEL_VERIFIER_PROMPT,
    chunk: Annotated[int, typer.Option("--chunk", help="Queries per unit of work (each unit is saved atomically).")] = defaults.LABEL_CHUNK,
    top_k: Annotated[int, typer.Option("--top-k", help="SLM log-probabilities stored per token.")] = defaults.LABEL_TOP_K,
    max_answer_tokens: Annotated[int, typer.Option("--max-answer-tokens", help="The LLM's answer budget; answers without EOS inside it are dropped.")] = defaults.LABEL_MAX_ANSWER_TOKENS,
    continuation_tokens: Annotated[Optional[int], typer.Option("--continuation-tokens", help=f"Most tokens of a continuation: it ends at the sentence end (default {defaults.LABEL_CONTINUATION_TOKENS}), or for --verifier outcome at the answer end (default {defaults.LABEL_OUTCOME_TOKENS}).")] = None,
    max_mismatches: Annotated[Optional[int], typer.Option("--max-mismatches", help="Continue at most this many mismatches per query (a uniform sample).")] = None,
    slots: Annotated[int, typer.Option("--slots", help="Rows the LLM decodes together.")] = defaults.LABEL_SLOTS,
    system: Annotated[Optional[str], typer.Option("--system", help="System message for the LLM's answers.")] = None,
    keep_truncated: Annotated[bool, typer.Option("--keep-truncated", help="Keep answers that hit the budget without EOS (random test models).")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the mismatch sample.")] = defaults.SEED,
    reuse_answers: Annotated[Optional[str], typer.Option("--reuse-answers", help="A label run of the same pair and answer settings whose LLM answers to copy instead of generating them again.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Label router training data: LLM answers, SLM mismatches, continuations, verifier verdicts."""
    from ..labeling import LabelConfig, build_verifier, llm_writer, run_labeling
    from ..labeling.data import read_queries
    from ..labeling.report import print_table
    from ..labeling.verifiers import load_prompt

    if continuation_tokens is None:
        continuation_tokens = defaults.LABEL_OUTCOME_TOKENS if verifier == "outcome" else defaults.LABEL_CONTINUATION_TOKENS
    cfg = LabelConfig(data=data, field=field, limit=limit, chunk=chunk, top_k=top_k, max_answer_tokens=max_answer_tokens,
                      continuation_tokens=continuation_tokens, max_mismatches=max_mismatches, slots=slots, system=system,
                      keep_truncated=keep_truncated, seed=seed)
    cfg.validate()
    load_prompt(verifier_prompt)
    read_queries(data, field, limit)  # bad data fails before any model loads
    if Path(out).exists() and not Path(out).is_dir():
        raise R2RouteError(f"--out {out} exists and is not a directory")
    mp = build_pair(models.config())
    writer = llm_writer(mp, slots)
    ver = build_verifier(verifier, mp, writer, verifier_url, verifier_model, verifier_api_key, slots, models.device, models.dtype, verifier_prompt)
    stats = run_labeling(mp, cfg, out, ver, writer=writer, progress=not quiet, reuse_answers=reuse_answers)
    if as_json:
        json.dump({k: v for k, v in stats.items() if k != "by_position"}, sys.stdout, indent=1)
        print()
    else:
        print_table(stats, {"dropped": stats["answers_dropped"]})
        if stats.get("units_run", 1):
            print(f"{stats['tokens']:,} labeled tokens in {stats['seconds']:.1f} s -> {out}", file=sys.stderr)
        else:
            print(f"{stats['tokens']:,} labeled tokens, every unit already finished -> {out}", file=sys.stderr)
