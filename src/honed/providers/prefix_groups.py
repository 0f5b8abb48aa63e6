"""Grouping rendered prompts by shared token prefixes, for batched decoding (``local_batch``).

Pure functions over token id sequences: no llama.cpp, no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PrefixGroup:
    """Members (indices into the prompt list) that share their first ``prefix_len`` tokens."""

    prefix_len: int
    members: tuple[int, ...]


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
