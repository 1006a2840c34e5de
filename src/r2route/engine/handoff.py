"""How the LLM reads a row and how what it writes gets into the row: one small object per pair kind.

The decode loop (:mod:`.session`) is the same for every pair; what differs sits behind a few verbs:

- ``start(row, prompt)``: the row's prompt as each model reads it;
- ``propose(ctx, row, token, flagged, q)``: the SLM's token goes in, flagged or not;
- ``llm_turn(row)``: the LLM writes this row's next token with no SLM proposal;
- ``check(ctx, slots)``: the LLM's call on the rows the schedule made due;
- ``final(row)`` / ``close(row)``: the writes that became final, and the rest of the text at the end.

A handoff sees a narrow :class:`StepContext` (the rows, both runners, the stats, the step count),
not the session.

:class:`TokenHandoff` (R2R's exact path): both models share one vocabulary, so the LLM reads the
row's own tokens, a flagged token stays provisional, and the check compares the LLM's token with
the SLM's at each pending position (rolling back at the first that differs).

:class:`TextHandoff`: the tokenizers differ, so the text is the source of truth and each model keeps
its own token ids of it (spliced on every handoff, see :mod:`.retokenize`). The LLM cannot check a
position it has no token boundary for, so a flagged token is never kept provisionally: the LLM
writes in its place in the same step. A routed row still never idles.

:class:`RemoteHandoff`: text handoff with the LLM behind an OpenAI-compatible server, asked for a
piece of text; the server's prefix cache does the catch-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .. import defaults
from ..draws import LLM_DRAW
from ..errors import R2RouteError
from .detokenize import TokenReader
from .request import PairPrompt
from .retokenize import common_prefix, splice
from .row import Row
from .runner import Runner
from .sampling import Draws
from .stats import BatchStats
from .transfer import to_device
from .verify import Checked, judge

PIECES = ("token", "word")


@dataclass(frozen=True)
class Write:
    """One write that became final: its token (None for a remote piece), writer and text."""

    token: int | None
    by_llm: bool
    text: str
    ends: bool  # the writer ended its answer (EOS, a stop id, a server's "stop")


@dataclass
class StepContext:
    """What a handoff may touch in one step."""

    rows: dict[int, Row]  # slot → row
    slm: Runner
    llm: Runner | None  # None: the LLM is remote
    stats: BatchStats
    step: int


def make_handoff(pair, piece: str = defaults.HANDOFF_PIECE):
    """The handoff object of ``pair``'s kind."""
    if pair.handoff == "token":
        return TokenHandoff(pair)
    if piece not in PIECES:
        raise R2RouteError(f"unknown handoff piece: {piece} (use {' or '.join(PIECES)})")
    return RemoteHandoff(pair, piece) if pair.llm_is_remote else TextHandoff(pair, piece)


class TokenHandoff:
    """One vocabulary: the LLM reads the row's tokens and checks flagged positions later."""

    provisional = True  # a flagged token may stand, unchecked, while the SLM writes on

    def __init__(self, pair):
        self.window = pair.context_window
        self.vocab = min(pair.slm.vocab_size, pair.llm.vocab_size)  # the LLM's rows past it are padding

    def start(self, row: Row, prompt) -> None:
        pass

    def llm_ids(self, row: Row) -> list[int]:
        return row.tokens

    def llm_turn(self, r: Row) -> bool:
        return not r.mode.slm_writes

    def propose(self, ctx: StepContext, r: Row, t: int, flagged: bool, q: torch.Tensor | None) -> None:
        r.mode.propose(r, t, flagged, ctx.step, q)

    def check(self, ctx: StepContext, slots: list[int]) -> None:
        """The LLM catches up on each row (one forward over every token since its last call) and
        reads its own prediction at each pending position p, in order: where it agrees, the SLM's
        token stands; at the first where it writes another token, that token replaces the SLM's and
        the row rolls back to p (both caches truncated, the SLM's later tokens dropped). Its
        prediction at p depends only on ``tokens[:p]``, final when p is checked, so the text is
        token for token what routing each flagged token to the LLM at once gives. Every position is
        judged on the device in one go (:func:`.verify.judge`); the verdicts reach the host in one copy."""
        rows = [ctx.rows[s] for s in slots]
        # The LLM's output at p - 1 is its token for p: feed up to the last position checked, and
        # for a mode that writes on (verify all, LLM-only rows) through the end, for the token after the draft.
        checked = [list(r.pending) + ([len(r.tokens)] if r.mode.writes_next else []) for r in rows]
        _, logits = ctx.llm.forward(slots, [r.tokens for r in rows], [c[-1] for c in checked], [[p - 1 for p in c] for c in checked])
        accept, tokens = self._judge(logits[:, : self.vocab], [(r, p) for r, c in zip(rows, checked) for p in c])
        k = 0
        for slot, r, positions in zip(slots, rows, checked):
            r.llm_calls += 1
            for j, p in enumerate(positions):
                if p == len(r.tokens):  # the draft stood (or there was none): the LLM writes the next token
                    r.append(tokens[k + j], by_llm=True, flagged=False, step=ctx.step)
                    break
                if not accept[k + j]:
                    dropped = r.rollback(p, tokens[k + j])
                    ctx.stats.rollbacks += dropped > 0  # a replaced last token is no rollback: nothing was built on it
                    ctx.stats.wasted_slm_tokens += dropped
                    ctx.slm.truncate(slot, p)
                    ctx.llm.truncate(slot, p)
                    break
            k += len(positions)
            r.checked()

    @staticmethod
    def _judge(logits: torch.Tensor, at: list[tuple[Row, int]]) -> tuple[list[bool], list[int]]:
        """(accepted, token) at each (row, position), judged on the device and copied to the host once."""
        gens = [r.gen for r, _ in at]
        draws = Draws.of(gens, [p for _, p in at], logits.device)
        ints = to_device([[r.tokens[p] if p < len(r.tokens) else -1 for r, p in at], [int(r.mode.verified) for r, _ in at]], logits.device)
        margin = to_device([g.accept_margin for g in gens], logits.device, torch.float32)
        qs = [r.mode.q(p) if p < len(r.tokens) else None for r, p in at]
        q = None
        if any(x is not None for x in qs):
            zero = torch.zeros(logits.shape[-1], device=logits.device)
            q = torch.stack([zero if x is None else x[: logits.shape[-1]] for x in qs])
        c = Checked(ints[0], ints[1].bool(), draws.temperature, draws.top_p, margin, draws.seed, draws.position, q)
        accept, token = judge(logits, c, draws.sampling, draws.cut, any(g.accept_margin > 0 for g in gens))
        out = torch.stack([accept.long(), token]).cpu().tolist()  # the check's one copy to the host
        return [bool(a) for a in out[0]], out[1]

    def final(self, r: Row):
        """The tokens before the first pending position, each once."""
        while r.emitted < r.resolved:
            tok = r.tokens[r.emitted]
            by = r.by_llm[r.emitted - r.n_prompt]
            r.emitted += 1
            yield Write(tok, by, r.reader.add(tok), tok in r.stop_ids)

    def full(self, r: Row, window: int) -> bool:
        """Whether the row's final tokens fill a slot of ``window`` positions."""
        return r.emitted >= window

    def llm_context(self, window: int) -> int:
        """Positions per slot of the LLM's cache: the same ids as the SLM's."""
        return window

    def close(self, r: Row) -> str:
        del r.tokens[r.emitted :], r.by_llm[r.emitted - r.n_prompt :]  # the provisional tail after the end
        return r.reader.flush()


@dataclass
class TextSide:
    """A text-handoff row's own state: the text written so far and, for a local LLM, its token ids of it."""

    llm_ids: list[int] | str  # a remote LLM's prompt text
    llm_prompt: int  # length of the LLM's prompt ids
    llm_reader: TokenReader | None
    llm_stop: frozenset[int]
    raw: str = ""  # every character generated (before any stop-string cut)
    llm_covered: int = 0  # chars of ``raw`` in ``llm_ids``
    run: int = 0  # LLM writes in the current piece
    piece_open: bool = False  # word pieces: the LLM's last write left its word unfinished
    outbox: list[Write] = field(default_factory=list)  # writes not yet streamed
    last_llm: bool = False  # the last write was the LLM's (whose unfinished bytes are flushed at the end)
    llm_turn: bool = False  # the LLM writes next with no SLM proposal (an open word, or nothing new for the SLM to read)


class TextHandoff:
    """Different vocabularies: text is handed over, each model re-tokenizes what the other wrote."""

    provisional = False  # no shared token boundaries to check later: the LLM writes in the flagged token's place at once

    def __init__(self, pair, piece: str):
        self.pair, self.piece = pair, piece
        self.slm_tok, self.llm_tok = pair.slm.tokenizer, pair.llm.tokenizer
        self.window, self.llm_window = pair.slm.context_window, pair.llm.context_window
        self.vocab = pair.slm.vocab_size

    def start(self, row: Row, prompt) -> None:
        if not isinstance(prompt, PairPrompt):
            raise ValueError("this pair's models do not share a tokenizer: give a PairPrompt (see ModelPair.encode)")
        if row.gen.verify != "none":
            raise R2RouteError("--verify all needs a pair that shares one tokenizer; this pair hands text over")
        llm = prompt.llm if isinstance(prompt.llm, str) else list(prompt.llm)
        if not llm:
            raise R2RouteError("empty prompt")
        if not isinstance(llm, str) and len(llm) >= self.llm_window:
            raise R2RouteError(f"prompt is {len(llm)} tokens; the LLM's context window is {self.llm_window}")
        stop = frozenset() if row.gen.ignore_eos else frozenset(self.pair.eos_token_ids("llm"))
        reader = None if isinstance(llm, str) else TokenReader(self.llm_tok, llm)
        row.side = TextSide(llm_ids=llm, llm_prompt=len(llm), llm_reader=reader, llm_stop=stop)

    def llm_ids(self, row: Row) -> list[int]:
        return row.side.llm_ids

    def llm_turn(self, r: Row) -> bool:
        return not r.mode.slm_writes or r.side.llm_turn

    def propose(self, ctx: StepContext, r: Row, t: int, flagged: bool, q) -> None:
        r.append(t, by_llm=flagged, flagged=flagged, step=ctx.step)
        if not flagged:  # the SLM's own write: final at once
            text = r.reader.add(t)
            r.side.raw += text
            r.side.run, r.side.piece_open, r.side.last_llm = 0, False, False
            r.side.outbox.append(Write(t, False, text, t in r.stop_ids))

    def check(self, ctx: StepContext, slots: list[int]) -> None:
        """The LLM writes at each due row: in place of its flagged SLM token, or on its own turn."""
        rows = [ctx.rows[s] for s in slots]
        for r in rows:
            self._drop_flagged(r)
            side = r.side
            if side.llm_covered < len(side.raw):  # splice the SLM's new text into the LLM's ids
                kept, ok = self._splice_into_llm(side)
                ctx.llm.truncate(r.slot, kept)
                ctx.stats.handoff_mismatches += int(not ok)
        _, logits = ctx.llm.catch_up(slots, [r.side.llm_ids for r in rows])
        tokens, _ = Draws.of([r.gen for r in rows], [r.next_position for r in rows], logits.device).pick(logits, LLM_DRAW)
        for r, t in zip(rows, tokens.tolist()):  # the check's one copy to the host
            side = r.side
            side.llm_ids.append(t)
            text = side.llm_reader.add(t)
            side.llm_covered = len(side.raw) + len(text)
            self._llm_wrote(ctx, r, Write(t, True, text, t in side.llm_stop))

    @staticmethod
    def _drop_flagged(r: Row) -> None:
        """A flagged SLM token is the LLM's to replace; the SLM never read it, so no cache moves."""
        if r.pending:
            r.tokens.pop()
            r.by_llm.pop()
            r.checked()

    def _splice_into_llm(self, side: TextSide) -> tuple[int, bool]:
        """The LLM's ids of ``raw`` (tokens of an unfinished character dropped: the text moved on)."""
        ids = side.llm_ids
        keep = len(ids) - side.llm_reader.pending
        new, ok = splice(self.llm_tok, ids[:keep], side.llm_prompt, side.raw[side.llm_covered :])
        side.llm_ids, side.llm_reader, side.llm_covered = new, TokenReader(self.llm_tok, new), len(side.raw)
        return common_prefix(ids, new), ok

    def _llm_wrote(self, ctx: StepContext, r: Row, w: Write) -> None:
        """Record the LLM's write and splice its text into the SLM's ids, so the SLM reads it next."""
        side = r.side
        side.raw += w.text
        r.by_llm.append(True)
        r.llm_calls += 1
        side.outbox.append(w)
        side.last_llm = True
        side.run = side.run + 1 if side.piece_open else 1
        side.piece_open = self.piece == "word" and self._piece_open(side.run, w.text)
        if w.text:
            keep = len(r.tokens) - r.reader.pending
            new, ok = splice(self.slm_tok, r.tokens[:keep], r.n_prompt, w.text)
            ctx.slm.truncate(r.slot, common_prefix(r.tokens, new))
            r.tokens, r.reader = new, TokenReader(self.slm_tok, new)
            ctx.stats.handoff_mismatches += int(not ok)
        # The LLM goes on where the SLM has nothing new to read (it wrote part of a character, or a
        # token with no text), or, with word pieces, until its word is done.
        nothing_new = ctx.slm.seen(r.slot) >= len(r.tokens)
        side.llm_turn = nothing_new or side.piece_open

    @staticmethod
    def _piece_open(run: int, text: str, max_tokens: int = defaults.HANDOFF_WORD_MAX) -> bool:
        """After an LLM write of ``text``, the ``run``-th of its piece: is the piece still inside a word?"""
        if run >= max_tokens or not text:
            return False
        if text[-1].isspace() or not text[-1].isalnum():
            return False  # ends on whitespace or punctuation
        return not (run >= 2 and text[0].isspace())  # it began the next word

    def final(self, r: Row):
        out, r.side.outbox = r.side.outbox, []
        yield from out

    def full(self, r: Row, window: int) -> bool:
        llm = r.side.llm_ids
        return len(r.tokens) >= window or (not isinstance(llm, str) and len(llm) >= self.llm_window)

    def llm_context(self, window: int) -> int:
        """The LLM's own window: its tokenizer may need more ids for the text than the SLM's."""
        return self.llm_window

    def close(self, r: Row) -> str:
        reader = r.side.llm_reader if r.side.last_llm else r.reader
        return reader.flush() if reader is not None else ""


class RemoteHandoff(TextHandoff):
    """Text handoff to an LLM behind an OpenAI-compatible server: it is sent the text so far and
    answers with a piece of text (its own prefix cache does the catch-up)."""

    def llm_ids(self, row: Row) -> None:
        return None  # no local cache of the LLM's

    def check(self, ctx: StepContext, slots: list[int]) -> None:
        rows = [ctx.rows[s] for s in slots]
        for r in rows:
            self._drop_flagged(r)
        pieces = self.pair.llm.complete([r.side.llm_ids + r.side.raw for r in rows], [r.gen for r in rows])
        ctx.stats.llm_calls += 1
        for r, (text, finished) in zip(rows, pieces):
            self._llm_wrote(ctx, r, Write(None, True, text, finished))
