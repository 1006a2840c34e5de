"""Every default in one place. Configs and the CLI read their defaults from here."""

from __future__ import annotations

# --- decoding ---
MAX_NEW_TOKENS = 256
TEMPERATURE = 0.0  # 0 means greedy
TOP_P = 1.0
SEED = 0

# --- routing ---
# A pair routes on SLM entropy unless told otherwise. The learned router is not the default: on
# GSM8K test records no router decision read, it ties entropy (README, "The learned router
# against SLM entropy"), and a router becomes the default only by beating entropy there.
STRATEGY = "entropy"
# With a calibration (a preset pair's shipped file, or --calibration) entropy routes this target
# share of the tokens: 0.2, the share that check was judged at.
ENTROPY_LLM_SHARE = 0.2
# Without a calibration: normalised entropy H/ln(V) at or above which a token goes to the LLM. On the default pair 0.1
# (≈ 1.2 nats) routed 5.6% of the tokens of 20 GSM8K train answers, 0.05 routed 17.7%
# (git show c857192:benchmarks/pair_choice.py).
ENTROPY_THRESHOLD = 0.1
NEURAL_THRESHOLD = 0.5
RANDOM_LLM_SHARE = 0.1

# --- router model (R2R: hidden ⊕ token embedding ⊕ projected top-k logits → residual MLP) ---
ROUTER_TOP_K = 100
# Width 128 × 2 blocks (0.5M parameters for a 896-wide SLM): on the default pair's first 46 labeled
# queries it matched 256 × 2 (1.5M) on validation PR-AUC and recall at 10–20% share over two seeds,
# and costs a third of the time per step (benchmarks/router_overhead.py). The paper's 56M router was
# trained on ~100× more tokens.
ROUTER_WIDTH = 128
ROUTER_DEPTH = 2
ROUTER_LOGITS_PROJ = 64
ROUTER_FEATURES = ("hidden", "token", "logits")
# What the top-k logits are taken relative to: "logsumexp" gives log-probabilities (the paper's
# feature); "max" gives each one's gap to the top logit, which needs no exp over the vocabulary
# (the router's largest single cost at batch 4, docs/router.md, "Cost") but drops the top token's
# probability itself, which the router must then infer from the k gaps.
ROUTER_LOGITS_REF = "logsumexp"
ROUTER_DROPOUT = 0.1

# --- router training ---
ROUTER_OBJECTIVE = "divergent"  # or "mismatch": the paper's ablation of the training target
ROUTER_TARGET_RECALL = 0.95  # of divergent validation tokens; the paper's operating point
ROUTER_LR = 1e-3
ROUTER_WEIGHT_DECAY = 0.01
ROUTER_BATCH = 256
ROUTER_MAX_EPOCHS = 40
ROUTER_PATIENCE = 5  # epochs without a lower validation loss before stopping

# --- KV cache ---
# The eager runner's cache grows in steps of this many positions, so a long generation reallocates
# rarely; sessions round their window up to a multiple of it, so calls of similar size reuse one.
KV_CAPACITY_STEP = 256
# Positions per slot of a static cache when the caller names no window (the server): it is
# allocated up front, so it is not the model's whole trained context (32,768 for Qwen2.5).
STATIC_CONTEXT = 4096

# --- presets ---
PAIR = "default"
TINY_SEED = 1234

# --- batching ---
MAX_BATCH = 8
# How each model runs (engine/runners.py): auto picks llama.cpp for GGUF files on the CPU, the
# static-cache runner for transformers models of a covered architecture, else eager.
RUNNER = "auto"
SERVER_DRAIN_SECONDS = 30.0  # on SIGTERM the server finishes answers in flight for at most this long, then exits
# When rows of one forward need different numbers of new tokens they are right-padded to the
# longest; splitting them into several forwards saves padding but pays each forward's fixed cost
# (transformers backend; llama.cpp takes a flat batch and pads nothing). A forward costs about
# a + b·(padded tokens); this is a/b in tokens, a constant per device, never timed during a run (how
# rows are grouped must not depend on the clock). CPU: a 1.5B model reads ~7 GB of weights per call
# (≈ 20–30 tokens of compute); GPU: launches and weight reads dominate until hundreds of tokens.
CALL_COST_TOKENS_CPU = 32.0
CALL_COST_TOKENS_CUDA = 256.0
# The schedule (engine/schedule.py): the LLM is called once this fraction of the running rows
# have pending (provisional) positions, or once the oldest pending position is this many steps old.
# Fixed per configuration, never measured during a run, so a row's tokens do not depend on timing.
SCHEDULE_ROWS_FRACTION = 1.0  # benchmarks/schedule_sweep.py on the default pair, batch 8, CPU: best at both shares
SCHEDULE_MAX_AGE = 8  # (18-42 tok/s over the sweep; 0 = plain R2R was the slowest)
VERIFY = "none"  # R2R: the LLM checks only the tokens the router flags
ACCEPT_MARGIN = 0.0  # nats; 0 = the SLM's token stands only where it is the LLM's own greedy token
MAX_DRAFT = 8  # with verify all: the LLM checks at least every this many SLM tokens

# --- llama.cpp backend ---
# KV cache positions per batch slot. All slots share one buffer (kv_unified), sized slots × this:
# 2,048 positions of Qwen2.5-1.5B's f16 cache are ~57 MB per slot.
LLAMACPP_CTX_PER_SLOT = 2048
# Tokens per llama_decode call (a longer catch-up is split). It sizes llama.cpp's scratch buffers.
LLAMACPP_BATCH = 64
# Calls of 8 to 13 tokens are cut in two halves (generate/serve's setting). On Q4_K weights this
# llama.cpp build's matmuls change path at 8 tokens, and the new path costs about as much for 8
# tokens as for 16 (Qwen2.5-1.5B, 2 cores: 7 tokens 319 ms, 8 656 ms, 13 ~660, 16 665;
# git show 12ebd89:benchmarks/llamacpp_call_sizes.py). The 0.5B's Q5_0/Q8_0 weights have no such
# step; halving moves its calls by under ±10%.
LLAMACPP_HALVE_CALLS = (8, 13)
# Logits rows one call may return (more are split into calls). llama.cpp reserves its output head's
# result for this many rows, × 151,936 floats for Qwen, per model. With 64 rows peak RSS ÷ weights
# of the default pair was 1.26 at batch 1; with 16 (and the LLM's runner out of embeddings mode,
# see LlamaCppRunner) 1.17 (benchmarks/memory_breakdown.py). A catch-up asks for one row per slot,
# verification one per pending position.
LLAMACPP_OUTPUTS = 16
# Batch-invariant decoding (what `eval` uses): a row's logits bitwise the same alone and beside any
# batch-mates. llama.cpp's CPU kernels pick code paths, so summation orders, by counts in a call
# (llama-cpp-python 0.3.36; git show a213b12:benchmarks/llamacpp_invariance.py): the matmuls change
# path between 7 and 8 tokens on the default pair's Q4_K weights, tinyBLAS (Q5_0, Q8_0 and f32
# weights) between 1 and 2; the last layer and the output head see only the tokens whose logits are
# requested; attention splits the cache across threads for a lone query token. So an invariant
# call holds 2 to 7 tokens and 2 to 7 outputs (a throw-away companion pads a lone one). Its price
# on 2 cores (Qwen2.5-1.5B): prefill ~0.6×, decode at batch 1 ~0.56×, at batch 4 ~0.85×, and at
# batch 8 1.5× faster than whole 8-token calls (slow in this build; generate now halves them, see
# LLAMACPP_HALVE_CALLS); see docs/evaluation.md, "Reproducibility".
LLAMACPP_INVARIANT_BATCH = 7
LLAMACPP_INVARIANT_MIN = 2
# Flash attention also sums a row's cells in buffer order, and llama.cpp gives a new token the
# lowest free cell, so cells that a batch-mate's rollback or release frees would take the row's next
# tokens below its earlier ones. An invariant runner keeps freed cells occupied until its buffer is
# full, then feeds its live rows afresh in order; this many times the requests' positions make
# that rare (a rebuild re-feeds every live token: see docs/engine.md, "Determinism and batch invariance on llama.cpp").
LLAMACPP_INVARIANT_ROOM = 3
EVAL_BATCH_INVARIANT = True
LLAMACPP_KV_TYPE = "f16"  # f32 doubles the cache but matches transformers to ~1e-5 (the tests use it)

# --- text handoff ---
# What the LLM writes at a routed position when the pair hands over text: one token ("token"), or
# tokens up to a word boundary ("word", at most HANDOFF_WORD_MAX tokens). See docs/results.md, "Choosing the SLM", for which
# kept accuracy better.
HANDOFF_PIECE = "token"
HANDOFF_WORD_MAX = 4

# --- labeling ---
LABEL_CHUNK = 8  # queries per unit of work: each unit is written atomically and skipped on rerun
LABEL_TOP_K = ROUTER_TOP_K  # top-k SLM logits stored per token
LABEL_MAX_ANSWER_TOKENS = 512  # the LLM's answer budget; answers without EOS inside it are dropped
LABEL_CONTINUATION_TOKENS = 32  # a continuation ends at the sentence end or after this many tokens
LABEL_OUTCOME_TOKENS = 512  # the outcome verifier's branches run to the answer's end, at most this many tokens
LABEL_REJOIN_TOKENS = 8  # an outcome branch whose last this-many tokens re-join the reference stops as neutral
LABEL_SLOTS = 8  # rows decoded together by the labeling LLM (answers, continuations, verdicts)
# rule, llm (the paper's: a verifier LLM) or embedding. On 77 hand-labeled mismatches of the default
# pair (benchmarks/verifier_agreement.py) the rule agreed best (kappa 0.50); the pair's 1.5B LLM as
# verifier called 99% of them divergent (kappa 0.00). With a large verifier LLM, pass --verifier llm.
LABEL_VERIFIER = "rule"
LABEL_VERIFIER_TOKENS = 4  # a verdict is the first 0/1 among this many generated tokens
LABEL_EMBED_THRESHOLD = 0.9  # embedding verifier: cosine below this is divergent
LABEL_VAL_PERCENT = 10  # share of queries (by a hash of their id) in the validation split
LABEL_VERIFIER_PROMPT = "verifier_v1"  # labeling/prompts/<version>.txt

# --- evaluation ---
EVAL_CODE_TIMEOUT = 10.0  # seconds a HumanEval program may run before it counts as failed
EVAL_LLM_SHARES = (0.1, 0.2, 0.3, 0.5)  # target LLM shares every routed method is run at
EVAL_MAX_NEW_TOKENS = 512
EVAL_BATCH = 4  # prompts decoded together (on this CPU the default pair's throughput peaked at 4)
# The system instruction of math tasks (the one the R2R paper's R1 models were trained with).
MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
EVAL_CALIBRATION_SIZE = 32  # records whose SLM decoding sets the thresholds (never evaluated)
EVAL_PROBE_TOKENS = 16  # the query-level router reads the SLM's entropy over this many first tokens
EVAL_BOOTSTRAP = 1000  # resamples for the 95% interval of accuracy
