import pytest

from honed.engine.budget import Budget, Estimate, Limits
from honed.errors import BudgetExhausted


def call(budget: Budget, *, cached: bool = False) -> None:
    """One request as the client makes it: reserved, then (a cache miss) sent."""
    budget.reserve_call(cached=cached)
    if not cached:
        estimate = Estimate()
        budget.start_attempt(estimate)
        budget.end_attempt(estimate)


def test_calls_are_reserved_and_capped() -> None:
    budget = Budget(Limits(max_calls=2))
    call(budget)
    call(budget)
    with pytest.raises(BudgetExhausted) as info:
        call(budget)
    assert info.value.limit == "max_calls" and budget.calls == 2


def test_retries_count_as_calls_and_never_pass_the_limit() -> None:
    budget = Budget(Limits(max_calls=3))
    budget.reserve_call()
    for attempt in range(3):  # the first try and two retries
        budget.start_attempt(retry=attempt > 0)
        budget.end_attempt()
    with pytest.raises(BudgetExhausted) as info:
        budget.start_attempt()  # a third retry would be a fourth real request
    assert info.value.limit == "max_calls" and budget.calls == 3 and budget.requests == 1


def test_search_limits_rollouts_and_real_calls_alike() -> None:
    budget = Budget(Limits(max_calls=3), count_cached=True)
    call(budget, cached=True)
    budget.reserve_call()
    for _ in range(2):  # a retry: two real requests for one rollout
        budget.start_attempt()
        budget.end_attempt()
    assert (budget.rollouts, budget.calls) == (2, 2)
    budget.reserve_call()  # the third rollout
    budget.start_attempt()  # the third real request
    with pytest.raises(BudgetExhausted) as info:  # its retry would be a fourth
        budget.start_attempt()
    assert info.value.limit == "max_calls" and budget.calls == 3


def test_cost_and_tokens_limits() -> None:
    budget = Budget(Limits(max_usd=0.01, max_tokens=100))
    budget.charge(10, 10, 0.02)
    assert budget.exhausted() == "max_usd"
    budget = Budget(Limits(max_tokens=100))
    budget.charge(60, 40, 0)
    assert budget.exhausted() == "max_tokens"


def test_a_request_starts_only_if_its_worst_case_fits() -> None:
    budget = Budget(Limits(max_tokens=100, max_usd=1.0))
    budget.start_attempt(Estimate(60, 0.5))  # in flight: 60 tokens at worst
    with pytest.raises(BudgetExhausted) as info:
        budget.start_attempt(Estimate(50, 0.1))  # 60 + 50 > 100 even before anything lands
    assert info.value.limit == "max_tokens"
    budget.end_attempt(Estimate(60, 0.5))
    budget.charge(20, 5, 0.2)  # what the first one really cost
    budget.start_attempt(Estimate(50, 0.1))  # 25 + 50 fits
    with pytest.raises(BudgetExhausted) as info:
        budget.start_attempt(Estimate(10, 0.9))  # 0.2 + 0.1 + 0.9 > 1.0
    assert info.value.limit == "max_usd"


def test_search_charges_cache_hits_so_warm_and_cold_stop_alike() -> None:
    cold, warm = (Budget(Limits(max_tokens=100), count_cached=True) for _ in range(2))
    cold.charge(60, 40, 0.0)
    warm.charge(60, 40, 0.0, cached=True)
    assert cold.exhausted() == warm.exhausted() == "max_tokens"
    assert (cold.tokens, warm.tokens) == (100, 0)  # real spend is reported apart


def test_wall_time_limit_includes_resumed_offset() -> None:
    budget = Budget(Limits(max_seconds=5), offset_s=10)
    assert budget.exhausted() == "max_seconds"


def test_cache_hits_are_free_unless_counted() -> None:
    budget = Budget(Limits(max_calls=1))
    call(budget)
    call(budget, cached=True)  # free: an evaluation's cache hit
    assert (budget.calls, budget.rollouts) == (1, 2)
    search = Budget(Limits(max_calls=2), count_cached=True)
    call(search, cached=True)
    call(search)
    with pytest.raises(BudgetExhausted):
        call(search, cached=True)
    assert (search.calls, search.rollouts) == (1, 2)
