"""The per-sequence half of batched greedy decoding (``local_batch``): jobs and their results,
the vocabulary's byte pieces, choice constraints (``ChoiceTrie``) and the output bookkeeping of one
sequence (``TextState``), which follows llama-cpp-python's ``create_completion``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MULTIBYTE_SLACK = 8  # extra tokens a sequence may take while finishing a UTF-8 character


@dataclass(frozen=True)
class Job:
    """One rendered request: prompt tokens, output cap, stop strings, allowed choices."""

    tokens: tuple[int, ...]
    max_new: int
    stops: tuple[bytes, ...] = ()
    choices: tuple[str, ...] | None = None

    @property
    def max_output(self) -> int:
        """Most tokens the output can take (a choice never needs more tokens than bytes)."""
        cap = self.max_new + MULTIBYTE_SLACK
        if self.choices:
            cap = min(cap, max(len(c.encode("utf-8")) for c in self.choices))
        return cap


@dataclass(frozen=True)
class JobResult:
    """One job's output.

    ``latency_s``: seconds from the start of this job's own decoding to the decode step that
    finished it. The clock starts when the job is admitted to a sequence slot, just before its
    group's shared prefix is evaluated if that evaluation opens with this job's admission round,
    else just before its own suffix is evaluated (the prefix is already in the cache). Time spent
    queued for a free slot is excluded; decode steps shared with other sequences are included,
    so the latencies of a batch overlap and their sum exceeds the batch's wall time.
    """

    text: str
    prompt_tokens: int
    output_tokens: int
    finish_reason: str
    latency_s: float = 0.0


# --- token tables and choices -----------------------------------------------------------------

@dataclass
class VocabTables:
    """Per-token byte pieces (plain and with special tokens rendered) and end-of-generation ids."""

    pieces: list[bytes]
    special_pieces: list[bytes]
    eog: tuple[int, ...]
    bos: int
    _by_piece: dict[bytes, list[int]] | None = None

    @classmethod
    def load(cls, vocab: Any) -> VocabTables:
        import llama_cpp as lc

        n = lc.llama_vocab_n_tokens(vocab)
        buf = ctypes.create_string_buffer(256)

        def piece(token: int, special: bool) -> bytes:
            size = lc.llama_token_to_piece(vocab, token, buf, len(buf), 0, special)
            return buf.raw[:size] if size > 0 else b""

        return cls([piece(t, False) for t in range(n)], [piece(t, True) for t in range(n)],
                   tuple(t for t in range(n) if lc.llama_vocab_is_eog(vocab, t)),
                   lc.llama_vocab_bos(vocab))

    def by_piece(self) -> dict[bytes, list[int]]:
        if self._by_piece is None:
            table: dict[bytes, list[int]] = {}
            for token, piece in enumerate(self.special_pieces):
                if piece:
                    table.setdefault(piece, []).append(token)
            self._by_piece = table
        return self._by_piece

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        """``Llama.detokenize``: joined plain pieces, minus a space after a leading BOS."""
        text = b"".join(self.pieces[t] for t in tokens)
        return text[1:] if tokens and tokens[0] == self.bos and text[:1] == b" " else text


class ChoiceTrie:
    """Which tokens may come next so that the output stays a prefix of one of ``choices``.

    Works on the bytes of the tokens' pieces, like llama.cpp's grammar sampler, so every
    tokenization of a choice is allowed, not only the canonical one. Allowed ids are sorted, so
    an argmax over them breaks ties toward the lowest id, as the greedy sampler does.
    """

    def __init__(self, choices: Sequence[str], tables: VocabTables) -> None:
        self._choices = [c.encode("utf-8") for c in choices]
        self._tables = tables
        self._cache: dict[bytes, Any] = {}

    def allowed(self, state: bytes) -> Any:
        """numpy array of allowed token ids after output bytes ``state`` (may include EOG)."""
        if state not in self._cache:
            import numpy as np

            by_piece, ids = self._tables.by_piece(), set()
            for choice in self._choices:
                if not choice.startswith(state):
                    continue
                rest = choice[len(state):]
                if not rest:
                    ids.update(self._tables.eog)
                for j in range(1, len(rest) + 1):
                    ids.update(by_piece.get(rest[:j], ()))
            self._cache[state] = np.array(sorted(ids), dtype=np.int64)
        return self._cache[state]

    def only_end(self, state: bytes) -> bool:
        """Is ending the only move left (the output is a whole choice that nothing extends)?"""
        return all(c == state or not c.startswith(state) for c in self._choices) and any(
            c == state for c in self._choices)


# --- per-sequence output state ----------------------------------------------------------------

class TextState:
    """``Llama._create_completion``'s bookkeeping for one output: EOG, UTF-8, stops, length."""

    def __init__(self, job: Job, detokenize: Callable[[Sequence[int]], bytes]) -> None:
        self.job, self._detokenize = job, detokenize
        self.tokens: list[int] = []
        self.text = b""
        self.finish: str | None = None
        self._multibyte = 0

    def push(self, token: int, is_eog: bool) -> bool:
        """Take one sampled token; True when the output is complete."""
        if is_eog:
            return self._end("stop", self.text)
        self.tokens.append(token)
        self.text = self._detokenize(self.tokens)
        for k, char in enumerate(self.text[-3:]):
            k = 3 - k
            for num, pattern in ((2, 192), (3, 224), (4, 240)):
                if num > k and pattern & char == pattern:
                    self._multibyte = num - k
        if self._multibyte > 0:  # an incomplete UTF-8 character: no stop/length check yet
            self._multibyte -= 1
            if len(self.tokens) < self.job.max_new + MULTIBYTE_SLACK:
                return False
            return self._end("length", self.text)
        hits = [s for s in self.job.stops if s in self.text]
        if hits:
            return self._end("stop", self.text[: self.text.index(hits[0])])
        if len(self.tokens) >= self.job.max_new:
            return self._end("length", self.text)
        return False

    def _end(self, reason: str, text: bytes) -> bool:
        self.finish, self.text = reason, text
        return True

    def result(self, latency_s: float = 0.0) -> JobResult:
        return JobResult(self.text.decode("utf-8", errors="ignore"), len(self.job.tokens),
                         len(self.tokens), self.finish or "stop", latency_s)
