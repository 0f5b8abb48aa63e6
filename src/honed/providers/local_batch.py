"""Shared-prefix batched greedy decoding on llama.cpp's low-level batch API.

Evaluating a candidate prompt runs the same prefix (system prompt, instruction, demos) over many
inputs. ``BatchEngine.run`` therefore

1. groups the rendered prompts by their longest common token prefix (``group_by_prefix``),
2. decodes each group's prefix once, into a sequence of its own in a unified KV cache,
3. copies it to every member sequence (``llama_memory_seq_cp``: the cells are shared, not
   duplicated), and
4. decodes the members' suffixes and generated tokens together, up to ``max_sequences`` at a
   time; a finished sequence frees its slot and cells for the next one (continuous batching).

Decoding is greedy: argmax, lowest token id on ties, as llama.cpp's greedy sampler does. With
``choices`` the argmax is restricted to tokens that keep the output a prefix of some choice and
end-of-generation is allowed once it is a whole choice (``ChoiceTrie``: the token-level
equivalent of the GBNF grammar the one-at-a-time path uses). Stop strings, the max_tokens cap
and the UTF-8 rules follow llama-cpp-python's ``create_completion``, so texts, token counts and
finish reasons line up with ``Llama.create_chat_completion``.

Numerics: llama.cpp's logits for a token depend slightly on the batch and KV-cell layout (which
attention kernel a micro-batch takes, summation order), so a batched output can differ from the
one-at-a-time output at a near tie. A run is deterministic: the same jobs in the same order give
the same outputs, because the cache is cleared at the start of every run.

Timing: each result carries its own latency (see ``JobResult``), and ``run`` can report every job
the moment it finishes, so a caller can show per-row progress and honest latency percentiles.
"""

from __future__ import annotations

import ctypes
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MULTIBYTE_SLACK = 8  # extra tokens a sequence may take while finishing a UTF-8 character


@dataclass(frozen=True)
class BatchSettings:
    """``max_sequences`` decoded together; ``n_batch`` tokens per llama_decode call;
    ``kv_cells`` KV-cache cells shared by all sequences (at least the model's n_ctx)."""

    max_sequences: int = 16
    n_batch: int = 512
    kv_cells: int = 4096


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


class BatchDecodeError(RuntimeError):
    """llama.cpp refused the batch (context creation, a decode call, a job that cannot fit)."""


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


@dataclass(frozen=True)
class PrefixGroup:
    """Members (indices into the prompt list) that share their first ``prefix_len`` tokens."""

    prefix_len: int
    members: tuple[int, ...]


# --- grouping ---------------------------------------------------------------------------------

def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def group_by_prefix(prompts: Sequence[Sequence[int]]) -> list[PrefixGroup]:
    """Partition prompts into groups that each evaluate one shared prefix.

    Sorted prompts put every set sharing a prefix side by side; a segment is split where that
    saves more prefix tokens than the extra prefix evaluations cost. A group's prefix always
    leaves each member at least one token of its own (the one whose logits start decoding), and
    a single prompt gets no prefix (it is decoded as a whole, batched with the others).
    """
    if not prompts:
        return []
    order = sorted(range(len(prompts)), key=lambda i: tuple(prompts[i]))
    lcps = [common_prefix_len(prompts[order[k]], prompts[order[k + 1]])
            for k in range(len(order) - 1)]
    groups: list[PrefixGroup] = []
    for lo, hi, prefix in _split(lcps, [len(prompts[i]) for i in order], 0, len(order)):
        members = tuple(sorted(order[lo:hi]))
        groups.append(PrefixGroup(prefix if len(members) > 1 else 0, members))
    groups.sort(key=lambda g: g.members[0])
    return groups


def _split(lcps: list[int], lengths: list[int], lo: int, hi: int) -> list[tuple[int, int, int]]:
    """Best grouping of sorted segment [lo, hi) as (lo, hi, prefix) triples.

    A segment shares ``shared`` tokens; cutting it where neighbours share no more than that (and
    around prompts too short to leave a token after a longer prefix) gives sub-segments with
    longer prefixes. Keep the cut when their savings beat the segment's. Post-order over an
    explicit stack: nesting can be as deep as the prompt count.
    """
    done: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    stack = [(lo, hi, False)]
    while stack:
        a, b, expanded = stack.pop()
        if b - a == 1:
            done[a, b] = [(a, b, lengths[a] - 1)]
            continue
        shared = min(min(lcps[a:b - 1]), min(lengths[a:b]) - 1)
        # cut where neighbours share no more, and around prompts too short for a longer prefix
        cuts = sorted({k + 1 for k in range(a, b - 1) if lcps[k] <= shared}
                      | {c for k in range(a, b) if lengths[k] - 1 <= shared
                         for c in (k, k + 1) if a < c < b})
        bounds = list(zip([a, *cuts], [*cuts, b], strict=True))
        if not expanded:
            stack.append((a, b, True))
            stack.extend((x, y, False) for x, y in bounds)
            continue
        parts = [part for x, y in bounds for part in done.pop((x, y))]
        saved = sum((y - x - 1) * p for x, y, p in parts)
        done[a, b] = parts if saved > (b - a - 1) * shared else [(a, b, shared)]
    return done[lo, hi]


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


# --- the engine -------------------------------------------------------------------------------

@dataclass
class _Group:
    prefix: tuple[int, ...]
    remaining: int
    seq_id: int | None = None
    opened_at: float | None = None  # perf_counter() when its prefix evaluation began


@dataclass
class _Seq:
    index: int
    seq_id: int
    group: _Group
    state: TextState
    trie: ChoiceTrie | None
    pos: int
    feed: list[int]
    cells: int
    started: float
    next_token: int = -1
    row: int = -1


class BatchEngine:
    """A llama.cpp context of its own over an already loaded model; ``run`` is not thread-safe.

    Where the weights live (extra buffer types such as AMX repacking: off, see
    ``local.load_llama``) was fixed when the model loaded; no context parameter changes it.
    """

    def __init__(self, model: Any, *, n_threads: int, settings: BatchSettings,
                 flash_attn: bool = True, min_cells: int = 0) -> None:
        import llama_cpp as lc

        if not 1 <= settings.max_sequences <= lc.llama_max_parallel_sequences() // 2:
            raise ValueError("max_sequences must be between 1 and "
                             f"{lc.llama_max_parallel_sequences() // 2}")
        self._lc, self.settings = lc, settings
        self._n_seq = 2 * settings.max_sequences  # members plus one prefix per open group
        params = lc.llama_context_default_params()
        params.n_ctx = max(settings.kv_cells, min_cells + MULTIBYTE_SLACK)
        params.n_batch = params.n_ubatch = settings.n_batch
        params.n_seq_max = self._n_seq
        params.n_threads = params.n_threads_batch = n_threads
        params.flash_attn_type = (lc.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                  else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        params.kv_unified = True
        params.no_perf = True
        self._ctx = lc.llama_init_from_model(model, params)
        if not self._ctx:
            raise BatchDecodeError("llama.cpp could not create the batch context")
        self.kv_cells = lc.llama_n_ctx(self._ctx)
        self._mem = lc.llama_get_memory(self._ctx)
        self._vocab = lc.llama_model_get_vocab(model)
        self._n_vocab = lc.llama_vocab_n_tokens(self._vocab)
        self._batch = lc.llama_batch_init(settings.n_batch, 0, 1)
        self._tables: VocabTables | None = None
        self._tries: dict[tuple[str, ...], ChoiceTrie] = {}

    def close(self) -> None:
        if self._ctx:
            self._lc.llama_batch_free(self._batch)
            self._lc.llama_free(self._ctx)
            self._ctx = None

    @property
    def tables(self) -> VocabTables:
        if self._tables is None:
            self._tables = VocabTables.load(self._vocab)
        return self._tables

    def run(self, jobs: Sequence[Job],
            on_done: Callable[[int, JobResult], None] | None = None) -> list[JobResult]:
        """Decode every job; results come back in the jobs' order.

        ``on_done(index, result)`` is called in the calling thread as each job finishes, in finish
        order (jobs finishing in the same decode step: in admission order). An exception it raises
        aborts the run and propagates; the next run starts from a cleared cache anyway.
        """
        for job in jobs:
            if not job.tokens or len(job.tokens) + job.max_output > self.kv_cells:
                raise ValueError(f"a job of {len(job.tokens)} tokens does not fit the KV cache")
        self._lc.llama_memory_clear(self._mem, True)
        _ = self.tables  # built once per engine (~1 s), before any job's clock starts
        queue: deque[tuple[_Group, int]] = deque()
        for g in group_by_prefix([job.tokens for job in jobs]):
            group = _Group(jobs[g.members[0]].tokens[: g.prefix_len], len(g.members))
            queue.extend((group, i) for i in g.members)
        results: list[JobResult | None] = [None] * len(jobs)
        free_ids = list(range(self._n_seq - 1, -1, -1))
        active: list[_Seq] = []
        reserved = 0
        while queue or active:
            reserved = self._admit(jobs, queue, active, free_ids, reserved)
            if not active:
                raise BatchDecodeError("batch scheduler stalled: a job does not fit the KV "
                                       "cache")
            finished = self._step(active)
            now = time.perf_counter()
            for seq in finished:
                result = seq.state.result(now - seq.started)
                results[seq.index] = result
                reserved -= self._release(seq, active, free_ids)
                if on_done is not None:
                    on_done(seq.index, result)
        return [r for r in results if r is not None]

    def _admit(self, jobs: Sequence[Job], queue: deque[tuple[_Group, int]], active: list[_Seq],
               free_ids: list[int], reserved: int) -> int:
        lc = self._lc
        round_start = time.perf_counter()
        while queue and len(active) < self.settings.max_sequences:
            group, index = queue[0]
            job = jobs[index]
            opening = bool(group.prefix) and group.seq_id is None
            cells = len(job.tokens) - len(group.prefix) + job.max_output
            need = cells + (len(group.prefix) if opening else 0)
            if reserved + need > self.kv_cells or len(free_ids) < 1 + opening:
                break
            queue.popleft()
            if opening:
                group.seq_id, group.opened_at = free_ids.pop(), time.perf_counter()
                self._decode_prefix(group.prefix, group.seq_id)
            # members admitted in the round that evaluated their prefix waited for it too
            opened = group.opened_at
            started = opened if opened is not None and opened >= round_start else (
                time.perf_counter())
            seq_id = free_ids.pop()
            if group.seq_id is not None:
                lc.llama_memory_seq_cp(self._mem, group.seq_id, seq_id, -1, -1)
            trie = None
            if job.choices:
                trie = self._tries.get(job.choices)
                if trie is None:
                    trie = self._tries[job.choices] = ChoiceTrie(job.choices, self.tables)
            active.append(_Seq(index, seq_id, group, TextState(job, self.tables.detokenize),
                               trie, len(group.prefix), list(job.tokens[len(group.prefix):]),
                               cells, started))
            reserved += need
        return reserved

    def _release(self, seq: _Seq, active: list[_Seq], free_ids: list[int]) -> int:
        """Free a finished sequence (and its group's prefix after the last member)."""
        lc = self._lc
        active.remove(seq)
        lc.llama_memory_seq_rm(self._mem, seq.seq_id, -1, -1)
        free_ids.append(seq.seq_id)
        freed = seq.cells
        group = seq.group
        group.remaining -= 1
        if group.remaining == 0 and group.seq_id is not None:
            lc.llama_memory_seq_rm(self._mem, group.seq_id, -1, -1)
            free_ids.append(group.seq_id)
            freed += len(group.prefix)
        free_ids.sort(reverse=True)
        if len(free_ids) == self._n_seq:  # nothing left in the cache: start from cell 0 again
            lc.llama_memory_clear(self._mem, True)
        return freed

    def _decode_prefix(self, prefix: Sequence[int], seq_id: int) -> None:
        n_batch = self.settings.n_batch
        for start in range(0, len(prefix), n_batch):
            rows = [(t, start + i, seq_id, False)
                    for i, t in enumerate(prefix[start:start + n_batch])]
            self._decode(rows)

    def _step(self, active: list[_Seq]) -> list[_Seq]:
        """One llama_decode over all active sequences; returns those that finished."""
        rows: list[tuple[int, int, int, bool]] = []
        for seq in active:
            seq.row = -1
            if not seq.feed:
                seq.row = len(rows)
                rows.append((seq.next_token, seq.pos, seq.seq_id, True))
                seq.pos += 1
        for seq in active:
            budget = self.settings.n_batch - len(rows)
            if seq.feed and budget > 0:
                chunk, seq.feed = seq.feed[:budget], seq.feed[budget:]
                rows.extend((t, seq.pos + i, seq.seq_id, False) for i, t in enumerate(chunk))
                seq.pos += len(chunk)
                if not seq.feed:
                    seq.row = len(rows) - 1
                    rows[-1] = (*rows[-1][:3], True)
        self._decode(rows)
        return [seq for seq in active if seq.row >= 0 and self._advance(seq)]

    def _advance(self, seq: _Seq) -> bool:
        """Pick the next token from the sequence's logits row; True when it is done."""
        import numpy as np

        lc, tables = self._lc, self.tables
        logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(self._ctx, seq.row),
                                       shape=(self._n_vocab,))
        if seq.trie is None:
            token = int(np.argmax(logits))
        else:
            allowed = seq.trie.allowed(self._choice_state(seq))
            token = int(allowed[int(np.argmax(logits[allowed]))]) if len(allowed) else -1
        if token < 0 or seq.state.push(token, lc.llama_vocab_is_eog(self._vocab, token)):
            return True
        seq.next_token = token
        # A whole choice that nothing extends can only end: skip the decode that would say so.
        if seq.trie is not None and tables.eog and seq.trie.only_end(self._choice_state(seq)):
            return seq.state.push(tables.eog[0], True)
        return False

    def _choice_state(self, seq: _Seq) -> bytes:
        return b"".join(self.tables.special_pieces[t] for t in seq.state.tokens)

    def _decode(self, rows: Sequence[tuple[int, int, int, bool]]) -> None:
        batch = self._batch
        batch.n_tokens = len(rows)
        for i, (token, pos, seq_id, logits) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq_id
            batch.logits[i] = logits
        rc = self._lc.llama_decode(self._ctx, batch)
        if rc != 0:
            raise BatchDecodeError(f"llama_decode failed with status {rc}")
