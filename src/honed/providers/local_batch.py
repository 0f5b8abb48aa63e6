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

The pieces live beside this module: ``prefix_groups`` (grouping, no model) and ``local_decode``
(jobs, results, vocabulary tables, choice tries and per-sequence output state); their names are
importable from here too.

Timing: each result carries its own latency (see ``JobResult``), and ``run`` can report every job
the moment it finishes, so a caller can show per-row progress and honest latency percentiles.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from honed.providers.local_decode import (
    MULTIBYTE_SLACK,
    ChoiceTrie,
    Job,
    JobResult,
    TextState,
    VocabTables,
)
from honed.providers.prefix_groups import PrefixGroup, common_prefix_len, group_by_prefix

__all__ = [
    "MULTIBYTE_SLACK",
    "BatchDecodeError",
    "BatchEngine",
    "BatchSettings",
    "ChoiceTrie",
    "Job",
    "JobResult",
    "PrefixGroup",
    "TextState",
    "VocabTables",
    "common_prefix_len",
    "group_by_prefix",
]


@dataclass(frozen=True)
class BatchSettings:
    """``max_sequences`` decoded together; ``n_batch`` tokens per llama_decode call;
    ``kv_cells`` KV-cache cells shared by all sequences (at least the model's n_ctx)."""

    max_sequences: int = 16
    n_batch: int = 512
    kv_cells: int = 4096


class BatchDecodeError(RuntimeError):
    """llama.cpp refused the batch (context creation, a decode call, a job that cannot fit)."""


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
