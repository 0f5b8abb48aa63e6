"""Sticky, salted assignment: the same unit always gets the same arm, and the split holds."""

from __future__ import annotations

import random

import pytest

from honed.experiments.assignment import (
    CONTROL,
    TREATMENT,
    assign,
    bucket,
    new_salt,
    unit_of,
)


def test_the_same_unit_always_gets_the_same_arm() -> None:
    salt = "s3cr3t"
    first = {u: assign(salt, f"user:{u}", 0.3) for u in range(500)}
    again = {u: assign(salt, f"user:{u}", 0.3) for u in reversed(range(500))}
    assert first == again


def test_bucket_is_sha256_of_salt_and_unit() -> None:
    import hashlib

    digest = hashlib.sha256(b"abc:user:42").digest()
    assert bucket("abc", "user:42") == int.from_bytes(digest[:8], "big") / 2**64
    assert 0.0 <= bucket("abc", "user:42") < 1.0


@pytest.mark.parametrize("split", [0.1, 0.5, 0.9])
def test_the_split_holds_over_10k_units(split: float) -> None:
    rng = random.Random(7)
    units = [f"user:{rng.getrandbits(64):x}" for _ in range(10_000)]
    treated = sum(assign("fixed-salt", u, split) == TREATMENT for u in units)
    # binomial sd at n=10k is at most 50 units (0.5%); 4 sd is a tolerance that never flakes
    assert abs(treated / 10_000 - split) < 0.02


def test_salts_make_experiments_independent() -> None:
    units = [f"user:{i}" for i in range(4000)]
    a = [assign("salt-a", u, 0.5) for u in units]
    b = [assign("salt-b", u, 0.5) for u in units]
    agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(units)
    assert 0.45 < agree < 0.55  # unrelated, not the same split twice
    assert new_salt() != new_salt()


def test_a_request_without_a_user_is_its_own_unit() -> None:
    assert unit_of("u1", "req_1") == unit_of("u1", "req_2") == "user:u1"
    assert unit_of(None, "req_1") != unit_of(None, "req_2")
    assert unit_of("", "req_1") == "request:req_1"
    assert assign("s", "user:x", 0.0) == CONTROL
