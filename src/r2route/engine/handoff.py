"""How the LLM reads a row and how what it writes gets into the row: one small object per pair kind.

The decode loop (:mod:`.session`) is the same for every pair; what differs sits behind four verbs:

- ``start(row, prompt)``: the row's prompt as each model reads it;
- ``propose(sess, row, token, flagged)``: the SLM's token goes in, flagged or not;
- ``check(sess, slots)``: the LLM's call on the rows the schedule made due;
- ``final(row)`` / ``close(row)``: the writes that became final, and the rest of the text at the end.

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
from ..errors import R2RouteError
from .detokenize import TokenReader
from .request import ACCEPT_DRAW, LLM_DRAW, PairPrompt, position_generator
from .retokenize import common_prefix, splice
from .row import Row
from .sampling import distribution
from .verify import accept_greedy, accept_sampled

PIECES = ("token", "word")


@dataclass(frozen=True)
class Write:
    """One write that became final: its token (None for a remote piece), writer and text."""

    token: int | None
    by_llm: bool
    text: str
    ends: bool  # the writer ended its answer (EOS, a stop id, a server's "stop")


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

    def propose(self, sess, r: Row, t: int, flagged: bool, q: torch.Tensor | None) -> None:
        if r.gen.verify == "none":  # R2R: a flagged token is the LLM's to write
            r.append(t, by_llm=flagged, flagged=flagged, step=sess.stats.steps)
            return
        if q is not None:  # the speculative rule needs the distribution the SLM drew from
            r.q[len(r.tokens)] = q
        r.append(t, by_llm=False, flagged=True, step=sess.stats.steps)  # verify all: every token is checked
        r.call = r.call or flagged

    def check(self, sess, slots: list[int]) -> None:
        """The LLM catches up on each row (one forward over every token since its last call) and
        reads its own prediction at each pending position p, in order: where it agrees, the SLM's
        token stands; at the first where it writes another token, that token replaces the SLM's and
        the row rolls back to p (both caches truncated, the SLM's later tokens dropped). Its
        prediction at p depends only on ``tokens[:p]``, final when p is checked, so the text is
        token for token what routing each flagged token to the LLM at once gives."""
        rows = [sess.rows[s] for s in slots]
        # The LLM's output at p - 1 is its token for p: feed up to the last position checked, and
        # under verify all (or for an LLM-only row) through the end, for the token after the draft.
        outputs = [[p - 1 for p in r.pending] + ([len(r.tokens) - 1] if _writes_next(r) else []) for r in rows]
        _, logits = sess.llm.forward(slots, [r.tokens for r in rows], [o[-1] + 1 for o in outputs], outputs)
        logits = logits[:, : self.vocab]
        k = 0
        for slot, r, outs in zip(slots, rows, outputs):
            mine, k = logits[k : k + len(outs)], k + len(outs)
            r.llm_calls += 1
            for p, row_logits in zip([o + 1 for o in outs], mine):
                if p == len(r.tokens):  # the draft stood (or there was none): the LLM writes the next token
                    r.append(sess.pick(row_logits[None], [r], [p], LLM_DRAW)[0], by_llm=True, flagged=False, step=sess.stats.steps)
                    break
                ok, token = self._judge(sess, r, p, row_logits)
                if not ok:
                    dropped = r.rollback(p, token)
                    sess.stats.rollbacks += dropped > 0  # a replaced last token is no rollback: nothing was built on it
                    sess.stats.wasted_slm_tokens += dropped
                    sess.slm.truncate(slot, p)
                    sess.llm.truncate(slot, p)
                    break
            r.checked()

    @staticmethod
    def _judge(sess, r: Row, p: int, llm_logits: torch.Tensor) -> tuple[bool, int]:
        """Whether the SLM's token at ``p`` stands, and the token the LLM puts there."""
        if r.gen.verify == "none":  # R2R: the LLM writes every flagged token; an equal one changes nothing
            t = sess.pick(llm_logits[None], [r], [p], LLM_DRAW)[0]
            return t == r.tokens[p], t
        if r.gen.temperature <= 0:
            return accept_greedy(llm_logits, r.tokens[p], r.gen.accept_margin)
        return accept_sampled(distribution(llm_logits, r.gen.temperature, r.gen.top_p), r.q[p], r.tokens[p],
                              position_generator(r.gen.seed, p, ACCEPT_DRAW, llm_logits.device))

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


def _writes_next(r: Row) -> bool:
    """Whether the LLM's call also writes the token after the row's last (it has no SLM draft to
    check there: LLM-only rows, or a verified draft that may stand whole)."""
    return not r.strategy.needs_slm or r.gen.verify == "all"


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

    def propose(self, sess, r: Row, t: int, flagged: bool, q) -> None:
        r.append(t, by_llm=flagged, flagged=flagged, step=sess.stats.steps)
        if not flagged:  # the SLM's own write: final at once
            text = r.reader.add(t)
            r.side.raw += text
            r.side.run, r.side.piece_open, r.side.last_llm = 0, False, False
            r.side.outbox.append(Write(t, False, text, t in r.stop_ids))

    def check(self, sess, slots: list[int]) -> None:
        """The LLM writes at each due row: in place of its flagged SLM token, or on its own turn."""
        rows = [sess.rows[s] for s in slots]
        for r in rows:
            self._drop_flagged(r)
            side = r.side
            if side.llm_covered < len(side.raw):  # splice the SLM's new text into the LLM's ids
                kept, ok = self._splice_into_llm(side)
                sess.llm.truncate(r.slot, kept)
                sess.stats.handoff_mismatches += int(not ok)
        _, logits = sess.llm.catch_up(slots, [r.side.llm_ids for r in rows])
        tokens = sess.pick(logits, rows, [r.next_position for r in rows], LLM_DRAW)
        for r, t in zip(rows, tokens):
            side = r.side
            side.llm_ids.append(t)
            text = side.llm_reader.add(t)
            side.llm_covered = len(side.raw) + len(text)
            self._llm_wrote(sess, r, Write(t, True, text, t in side.llm_stop))

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

    def _llm_wrote(self, sess, r: Row, w: Write) -> None:
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
            sess.slm.truncate(r.slot, common_prefix(r.tokens, new))
            r.tokens, r.reader = new, TokenReader(self.slm_tok, new)
            sess.stats.handoff_mismatches += int(not ok)
        # The LLM goes on where the SLM has nothing new to read (it wrote part of a character, or a
        # token with no text), or, with word pieces, until its word is done.
        nothing_new = sess.slm.seen(r.slot) >= len(r.tokens)
        r.llm_turn = nothing_new or side.piece_open

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

    def check(self, sess, slots: list[int]) -> None:
        rows = [sess.rows[s] for s in slots]
        for r in rows:
            self._drop_flagged(r)
        pieces = self.pair.llm.complete([r.side.llm_ids + r.side.raw for r in rows], [r.gen for r in rows])
        sess.stats.llm_calls += 1
        for r, (text, finished) in zip(rows, pieces):
            self._llm_wrote(sess, r, Write(None, True, text, finished))
