"""Options shared by the CLI verbs, grouped, and turning them into a pair, a router and a strategy.

A group of flags that several verbs take (which models, how tokens are routed, how tokens are
generated) is declared once, as a frozen dataclass whose fields are typer options. A verb names
the group as one parameter and is decorated with :func:`flag_groups`:

    @flag_groups
    def generate(prompt: ..., *, models: PairFlags, routing: RoutingFlags, generation: GenerationFlags, ...):

typer then sees the group's fields as the verb's own options, and the verb receives one
``PairFlags`` (etc.) instance. ``Annotated[PairFlags, Only("pair", "slm")]`` offers some of a group's
flags; the others keep the group's defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .. import defaults
from ..errors import R2RouteError

if TYPE_CHECKING:
    from ..engine import GenerationConfig
    from ..pair import ModelPair, PairConfig
    from ..router import EntropyCalibration, RouterBundle
    from ..router.strategies import Strategy

PairOpt = Annotated[str, typer.Option("--pair", help="Preset pair: tiny (random weights, for tests) or default.")]
SlmOpt = Annotated[Optional[str], typer.Option("--slm", help="Small model: hub id, local directory or .gguf file.")]
LlmOpt = Annotated[Optional[str], typer.Option("--llm", help="Large model: hub id, local directory or .gguf file.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:N].")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="auto (fp32 on CPU, bf16 on CUDA), float32, bfloat16, float16.")]
LlmUrlOpt = Annotated[Optional[str], typer.Option("--llm-url", help="An OpenAI-compatible server for the LLM, e.g. http://host:8000/v1 (vLLM, SGLang, llama.cpp).")]
LlmModelOpt = Annotated[Optional[str], typer.Option("--llm-model", help="The model name on --llm-url (default: the first it lists).")]
LlmTokOpt = Annotated[Optional[str], typer.Option("--llm-tokenizer", help="Tokenizer (hub id or dir) whose chat template the remote LLM expects (default: the SLM's).")]
LlmKeyOpt = Annotated[Optional[str], typer.Option("--llm-api-key", envvar="R2ROUTE_LLM_API_KEY", help="API key for --llm-url.")]
LlmParamsOpt = Annotated[float, typer.Option("--llm-params", help="The remote LLM's parameter count in billions, for average activated parameters.")]
RouterOpt = Annotated[Optional[str], typer.Option("--router", help="Router directory (router.json + router.safetensors) of the neural router; default: the preset pair's shipped router.")]
StrategyOpt = Annotated[Optional[str], typer.Option("--strategy", help="slm, llm, neural, entropy or random (default: neural with --router, else entropy).")]
ThresholdOpt = Annotated[Optional[float], typer.Option("--threshold", help="Routing threshold in [0, 1] (router probability, or normalised SLM entropy).")]
ShareOpt = Annotated[Optional[float], typer.Option("--llm-share", help=f"Target LLM share in [0, 1]: the probability for random routing, a calibrated threshold for entropy and neural (entropy's default: {defaults.ENTROPY_LLM_SHARE:g} with a calibration, else --threshold {defaults.ENTROPY_THRESHOLD:g}).")]
CalibrationOpt = Annotated[Optional[str], typer.Option("--calibration", help="SLM entropy's thresholds per LLM share, a file from r2route calibrate; default: the preset pair's shipped file.")]
MaxNewOpt = Annotated[int, typer.Option("--max-new-tokens", "-n", help="Most tokens to generate.")]
TempOpt = Annotated[float, typer.Option("--temperature", "-t", help="0 = greedy.")]
TopPOpt = Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for sampling and random routing.")]
VerifyOpt = Annotated[str, typer.Option("--verify", help="none: R2R (the LLM checks the tokens the router flags); all: the LLM checks every SLM token since its last call (lossless at margin 0; with --strategy slm, speculative decoding).")]
MarginOpt = Annotated[float, typer.Option("--accept-margin", help="With --verify all, greedy: an SLM token also stands where the LLM's log-probability of it is within this many nats of its top token's.")]
DraftOpt = Annotated[int, typer.Option("--max-draft", help="With --verify all: the LLM checks at least every this many SLM tokens.")]
RunnerOpt = Annotated[str, typer.Option("--runner", help="How each model runs: auto (llama.cpp for GGUF files on the CPU, the static-cache runner for transformers models of a covered architecture: Llama, Qwen2, Mistral; else eager), eager (transformers with a growing cache), static (a preallocated KV cache and r2route's own decode step over the model's weights), graph (the static runner's decode steps replayed from CUDA graphs), graph-compiled (the same, compiled by torch.compile before capture: minutes of compiling first), llama.cpp.")]


# --- groups of flags -----------------------------------------------------------------------------


class FlagGroup:
    """Base of a group of flags: subclasses are frozen dataclasses whose fields are annotated with
    typer options (``Annotated[type, typer.Option(...)]``) and default to the flag's default."""

    @classmethod
    def parameters(cls, names: Sequence[str] | None = None) -> list[inspect.Parameter]:
        """The group's fields (those in ``names``, default all) as keyword parameters for typer."""
        fields = dataclasses.fields(cls)
        unknown = set(names or ()) - {f.name for f in fields}
        if unknown:
            raise TypeError(f"{cls.__name__} has no flags {sorted(unknown)}")
        hints = typing.get_type_hints(cls, include_extras=True)
        return [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
                for f in fields if names is None or f.name in names]


class Only:
    """``Annotated[SomeFlags, Only("a", "b")]``: a verb offers only these flags of the group; the
    others keep the group's defaults."""

    def __init__(self, *names: str) -> None:
        self.names = names


def _group_of(annotation) -> tuple[type[FlagGroup] | None, tuple[str, ...] | None]:
    """The flag group a parameter annotation names, and which of its flags (None: all)."""
    names = None
    if typing.get_origin(annotation) is Annotated:
        annotation, *extras = typing.get_args(annotation)
        names = next((e.names for e in extras if isinstance(e, Only)), None)
    if isinstance(annotation, type) and issubclass(annotation, FlagGroup):
        return annotation, names
    return None, None


def flag_groups(command: Callable) -> Callable:
    """Expand a verb's flag-group parameters into their flags for typer, which builds the command
    from ``inspect.signature``, and pack the flags it parses back into one group instance each."""
    hints = typing.get_type_hints(command, include_extras=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[FlagGroup], list[str]]] = {}
    for p in inspect.signature(command).parameters.values():
        group, names = _group_of(hints[p.name])
        if group is None:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[p.name]))
        else:
            flags = group.parameters(names)
            groups[p.name] = (group, [f.name for f in flags])
            params.extend(flags)
    taken = [p.name for p in params] + list(groups)
    clash = sorted({n for n in taken if taken.count(n) > 1})
    if clash:
        raise TypeError(f"{command.__name__}: parameters declared twice: {clash}")

    @functools.wraps(command)
    def run(**flags):
        for name, (group, names) in groups.items():
            flags[name] = group(**{n: flags.pop(n) for n in names})
        return command(**flags)

    run.__signature__ = inspect.Signature(params, return_annotation=inspect.Signature.empty)
    # typer also reads typing.get_type_hints(run), which must name the flags, not the groups
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


@dataclass(frozen=True)
class PairFlags(FlagGroup):
    """Which models run, and where: a preset pair, models that replace its SLM or LLM, a remote LLM."""

    pair: PairOpt = defaults.PAIR
    slm: SlmOpt = None
    llm: LlmOpt = None
    llm_url: LlmUrlOpt = None
    llm_model: LlmModelOpt = None
    llm_tokenizer: LlmTokOpt = None
    llm_api_key: LlmKeyOpt = None
    llm_params: LlmParamsOpt = 0.0
    device: DeviceOpt = "auto"
    dtype: DtypeOpt = "auto"

    def config(self) -> PairConfig:
        """The flags as a PairConfig (a remote LLM's size is given in billions)."""
        from ..pair import PairConfig

        if self.llm_params < 0:
            raise R2RouteError(f"--llm-params must be ≥ 0, got {self.llm_params}")
        return PairConfig(pair=self.pair, slm=self.slm, llm=self.llm, device=self.device, dtype=self.dtype, llm_url=self.llm_url,
                          llm_model=self.llm_model, llm_tokenizer=self.llm_tokenizer, llm_api_key=self.llm_api_key,
                          llm_params=int(self.llm_params * 1e9))


# The pair flags of verbs that run local models only.
LOCAL_MODELS = Only("pair", "slm", "llm", "device", "dtype")


@dataclass(frozen=True)
class RoutingFlags(FlagGroup):
    """Which tokens go to the LLM: a strategy, a router, and the threshold or share it routes at."""

    router: RouterOpt = None
    strategy: StrategyOpt = None
    threshold: ThresholdOpt = None
    llm_share: ShareOpt = None
    calibration: CalibrationOpt = None


@dataclass(frozen=True)
class GenerationFlags(FlagGroup):
    """How tokens are generated: length, sampling, verification by the LLM, and how each model runs."""

    max_new_tokens: MaxNewOpt = defaults.MAX_NEW_TOKENS
    temperature: TempOpt = defaults.TEMPERATURE
    top_p: TopPOpt = defaults.TOP_P
    seed: SeedOpt = defaults.SEED
    verify: VerifyOpt = defaults.VERIFY
    accept_margin: MarginOpt = defaults.ACCEPT_MARGIN
    max_draft: DraftOpt = defaults.MAX_DRAFT
    runner: RunnerOpt = defaults.RUNNER

    def config(self, stop: Sequence[str] = ()) -> GenerationConfig:
        """The decoding settings, validated, so that bad flags fail before any model loads."""
        from ..engine import GenerationConfig

        gen = GenerationConfig(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p, seed=self.seed,
                               verify=self.verify, accept_margin=self.accept_margin, max_draft=self.max_draft, stop=tuple(stop))
        gen.validate()
        return gen


@dataclass(frozen=True)
class TaskFlags(FlagGroup):
    """Which records an evaluation reads: a task, its file, which records it scores and which
    calibrate the thresholds (``r2route eval``, ``r2route calibrate``)."""

    task: Annotated[Optional[str], typer.Option("--task", help="gsm8k, math500, humaneval, or a .jsonl file (with --prompt-field/--answer-field/--grader).")] = None
    limit: Annotated[Optional[int], typer.Option("--limit", help="Evaluate N records (from --first).")] = None
    first: Annotated[int, typer.Option("--first", help="Index of the first record to evaluate (0-based; ids stay the file's indexes).")] = 0
    data: Annotated[Optional[str], typer.Option("--data", help="The task's JSONL file instead of ../shared/data.")] = None
    prompt_field: Annotated[Optional[str], typer.Option("--prompt-field", help="Field holding the prompt (task files).")] = None
    answer_field: Annotated[Optional[str], typer.Option("--answer-field", help="Field holding the gold answer (task files).")] = None
    grader: Annotated[Optional[str], typer.Option("--grader", help="math, exact or code (task files).")] = None
    calibration_size: Annotated[int, typer.Option("--calibration-size", help="Records that set the thresholds (train split, else held out).")] = defaults.EVAL_CALIBRATION_SIZE

    def load(self):
        """The task, or one clear line on what is wrong with the flags or the file."""
        from ..evaluation.tasks import load_task

        if not self.task:
            raise R2RouteError("give --task")
        return load_task(self.task, self.limit, self.calibration_size, self.data, prompt_field=self.prompt_field,
                         answer_field=self.answer_field, grader=self.grader, first=self.first)


# The task flags of a calibration pass: which records are scored does not matter to it.
CALIBRATION_TASK = Only("task", "data", "prompt_field", "answer_field", "grader", "calibration_size")

SharesOpt = Annotated[str, typer.Option("--llm-shares", help="Target LLM shares for the routed methods.")]
EvalMaxNewOpt = Annotated[int, typer.Option("--max-new-tokens", "-n", help="Most tokens per answer.")]
BatchOpt = Annotated[int, typer.Option("--batch", help="Prompts decoded together.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def floats(text: str, name: str) -> tuple[float, ...]:
    """A comma-separated list of numbers, or one clear line naming the flag."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise R2RouteError(f"{name} must be comma-separated numbers, got {text!r}") from None


# --- from flags to a pair and a strategy ---------------------------------------------------------


def build_pair(cfg: PairConfig) -> ModelPair:
    """Load the pair, showing a spinner on stderr while weights load."""
    from rich.console import Console

    from ..pair import load_pair

    with Console(stderr=True).status("loading models…", spinner="dots"):
        return load_pair(cfg)


def build_strategy(strategy: str | None, router: str | None, threshold: float | None, llm_share: float | None,
                   calibration: str | None = None) -> Strategy:
    """Resolve --strategy/--router/--threshold/--llm-share/--calibration into a Strategy.

    Runs before any model loads, so a bad flag, router or calibration file fails at once.
    """
    from ..router import load_router, make_strategy
    from ..router.calibration import load_calibration

    use_router = names_router(router)
    name = strategy or ("neural" if use_router else defaults.STRATEGY)
    if use_router and name != "neural":
        raise R2RouteError(f"--router is only used by --strategy neural, not {name}")
    if calibration is not None and name != "entropy":
        raise R2RouteError(f"--calibration sets SLM entropy's thresholds: it is for --strategy entropy, not {name}")
    bundle = load_router(router) if use_router else None
    cal = load_calibration(calibration) if calibration is not None else None
    return make_strategy(name, threshold, llm_share, router=bundle, calibration=cal)


def attach_strategy(strategy: Strategy, pair: ModelPair) -> None:
    """Check that a router or a calibration was made for this pair, and move a router to the pair's device."""
    _attach(getattr(strategy, "bundle", None), getattr(strategy, "calibration", None), pair)


def _attach(bundle: RouterBundle | None, calibration: EntropyCalibration | None, pair: ModelPair) -> None:
    if calibration is not None:
        calibration.check_pair(pair.identity())
    if bundle is not None:
        bundle.check_pair(pair.identity())
        bundle.model.to(pair.device)


def request_routing(cfg: PairConfig, routing: RoutingFlags, strategy: Strategy, pair: ModelPair) -> tuple[RouterBundle | None, EntropyCalibration | None]:
    """What a server request may route with besides the start-up strategy: the start-up strategy's
    router and calibration, else the preset pair's shipped ones, so that a request may ask for
    ``neural`` or for entropy at an ``llm_share`` whatever the server started with."""
    from ..router import load_calibration, load_router

    bundle, calibration = getattr(strategy, "bundle", None), getattr(strategy, "calibration", None)
    fresh_bundle = fresh_calibration = None
    if bundle is None and names_router(path := default_router(cfg, "neural", routing.router)):
        fresh_bundle = load_router(path)
    if calibration is None and (path := default_calibration(cfg, dataclasses.replace(routing, strategy="entropy", router=None))):
        fresh_calibration = load_calibration(path)
    _attach(fresh_bundle, fresh_calibration, pair)
    return bundle or fresh_bundle, calibration or fresh_calibration


def names_router(router: str | None) -> bool:
    """Whether a ``--router`` value names a router (``none`` names none)."""
    return router is not None and router.lower() != "none"


def _as_is(cfg: PairConfig) -> bool:
    """Whether the preset pair is used as is (its shipped router holds only then)."""
    return not (cfg.slm or cfg.llm or cfg.llm_url)


def default_router(cfg: PairConfig, strategy: str | None, router: str | None) -> str | None:
    """``--router`` as given, else, for ``--strategy neural``, the preset pair's shipped router
    when the pair is used as is."""
    from ..router.shipped import shipped_router

    if router is not None or strategy != "neural" or not _as_is(cfg):
        return router
    path = shipped_router(cfg.pair)
    return str(path) if path else None


def default_calibration(cfg: PairConfig, routing: RoutingFlags) -> str | None:
    """``--calibration`` as given, else, when routing by entropy (asked for, or the default with no
    ``--router``), the preset pair's shipped calibration when its SLM is used (entropy's thresholds
    depend on the SLM alone, so another ``--llm`` or ``--llm-url`` keeps them)."""
    from ..router.shipped import shipped_calibration

    if routing.calibration is not None or routing.strategy not in (None, "entropy") or names_router(routing.router) or cfg.slm:
        return routing.calibration
    path = shipped_calibration(cfg.pair)
    return str(path) if path else None


def routing_strategy(cfg: PairConfig, routing: RoutingFlags) -> Strategy:
    """The routing flags as a Strategy for the pair ``cfg`` names (by default SLM entropy at the
    pair's shipped calibration)."""
    router = default_router(cfg, routing.strategy, routing.router)
    calibration = default_calibration(cfg, routing)
    return build_strategy(routing.strategy, router, routing.threshold, routing.llm_share, calibration)


def load_routed_pair(cfg: PairConfig, routing: RoutingFlags) -> tuple[ModelPair, Strategy]:
    """Validate the routing flags, then load the pair and attach the router: what every verb starts with."""
    strat = routing_strategy(cfg, routing)
    mp = build_pair(cfg)
    attach_strategy(strat, mp)
    return mp, strat
