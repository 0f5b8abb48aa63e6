import pytest

from honed.engine.budget import Budget, Limits
from honed.errors import BudgetExhausted


def test_calls_are_reserved_and_capped() -> None:
    budget = Budget(Limits(max_calls=2))
    budget.reserve_call()
    budget.reserve_call()
    with pytest.raises(BudgetExhausted) as info:
        budget.reserve_call()
    assert info.value.limit == "max_calls" and budget.calls == 2


def test_cost_and_tokens_limits() -> None:
    budget = Budget(Limits(max_usd=0.01, max_tokens=100))
    budget.charge(10, 10, 0.02)
    assert budget.exhausted() == "max_usd"
    budget = Budget(Limits(max_tokens=100))
    budget.charge(60, 40, 0)
    assert budget.exhausted() == "max_tokens"


def test_wall_time_limit_includes_resumed_offset() -> None:
    budget = Budget(Limits(max_seconds=5), offset_s=10)
    assert budget.exhausted() == "max_seconds"


def test_cache_hits_are_free_unless_counted() -> None:
    budget = Budget(Limits(max_calls=1))
    budget.reserve_call()
    budget.reserve_call(cached=True)  # free: an evaluation's cache hit
    assert (budget.calls, budget.rollouts) == (1, 2)
    search = Budget(Limits(max_calls=2), count_cached=True)
    search.reserve_call(cached=True)
    search.reserve_call()
    with pytest.raises(BudgetExhausted):
        search.reserve_call(cached=True)
    assert (search.calls, search.rollouts) == (1, 2)
