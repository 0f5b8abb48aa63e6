"""Shared-prefix batching: grouping and output bookkeeping without the model, then batched vs
one-at-a-time outputs on the real embedded model."""

import asyncio
import json
import threading
import time

import pytest

from honed.providers.base import OutputSpec, Request
from honed.providers.local_decode import ChoiceTrie, Job, TextState, VocabTables
from honed.providers.prefix_groups import PrefixGroup, common_prefix_len, group_by_prefix
from honed.testing import has_local_model
from honed.types import Message

# --- no model -----------------------------------------------------------------------------------


def test_common_prefix_len() -> None:
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_len([1, 2], [1, 2, 3]) == 2
    assert common_prefix_len([], [1]) == 0


def test_one_shared_prefix_forms_one_group() -> None:
    prefix = list(range(100, 140))
    prompts = [[*prefix, 7, 8], [*prefix, 9], [*prefix, 5, 5, 5]]
    assert group_by_prefix(prompts) == [PrefixGroup(40, (0, 1, 2))]


def test_two_candidates_split_into_two_groups_in_input_order() -> None:
    a, b = list(range(100, 140)), [*range(100, 110), *range(500, 530)]  # share only 10 tokens
    prompts = [[*b, 1], [*a, 1], [*b, 2], [*a, 2], [*a, 3]]
    assert group_by_prefix(prompts) == [PrefixGroup(40, (0, 2)), PrefixGroup(40, (1, 3, 4))]


def test_small_split_gains_keep_the_group_together() -> None:
    # Two sub-groups share 1 extra token each beyond the common 30: not worth a second prefix.
    base = list(range(30))
    prompts = [[*base, 1, 5], [*base, 1, 6], [*base, 2, 5], [*base, 2, 6]]
    assert group_by_prefix(prompts) == [PrefixGroup(30, (0, 1, 2, 3))]


def test_prefix_leaves_every_member_a_token_and_singletons_get_none() -> None:
    shared = list(range(20))
    groups = group_by_prefix([shared, [*shared, 1], shared, [99, 98]])
    assert PrefixGroup(19, (0, 1, 2)) in groups  # identical / prefix-of prompts
    assert PrefixGroup(0, (3,)) in groups
    assert group_by_prefix([]) == []


def _state(max_new: int = 5, stops: tuple[bytes, ...] = ()) -> TextState:
    pieces = {1: b"ab", 2: b"c\n", 3: b"\xc3", 4: b"\xa9", 5: b"d"}
    return TextState(Job((9,), max_new, stops), lambda ts: b"".join(pieces[t] for t in ts))


def test_text_state_stops_at_eog_length_and_stop_strings() -> None:
    s = _state()
    assert not s.push(1, False) and s.push(0, True)
    assert s.result().text == "ab" and s.result().output_tokens == 1
    assert s.result().finish_reason == "stop"

    s = _state(max_new=2)
    assert not s.push(1, False) and s.push(5, False)
    assert (s.result().text, s.result().finish_reason) == ("abd", "length")

    s = _state(stops=(b"\n",))
    assert not s.push(1, False) and s.push(2, False)
    assert (s.result().text, s.result().finish_reason) == ("abc", "stop")


def test_text_state_waits_for_a_whole_utf8_character() -> None:
    s = _state(max_new=2, stops=(b"zz",))
    assert not s.push(1, False)
    assert not s.push(3, False)  # half of "é": no length check yet, as llama-cpp-python does
    assert s.push(4, False)
    assert (s.result().text, s.result().finish_reason) == ("abé", "length")
    assert s.result().output_tokens == 3


def test_choice_trie_allows_every_tokenization_and_ends_only_on_a_whole_choice() -> None:
    pytest.importorskip("numpy")
    pieces = [b"", b"pos", b"itive", b"p", b"ositive", b"neg", b"ative", b"positive", b"x"]
    tables = VocabTables(pieces, pieces, eog=(0,), bos=-1)
    trie = ChoiceTrie(("positive", "negative", "pos"), tables)
    assert trie.allowed(b"").tolist() == [1, 3, 5, 7]
    assert trie.allowed(b"pos").tolist() == [0, 2]  # end ("pos") or continue ("positive")
    assert trie.allowed(b"p").tolist() == [4]
    assert trie.allowed(b"positive").tolist() == [0]
    assert trie.only_end(b"positive") and not trie.only_end(b"pos") and not trie.only_end(b"")


# --- on the embedded model ----------------------------------------------------------------------

needs_model = pytest.mark.skipif(not has_local_model(), reason="embedded model not installed")

SYSTEM = ("Classify the sentiment of the product review as positive, negative or neutral. "
          "Positive: the customer is pleased. Negative: the customer is unhappy or wants a "
          "refund. Neutral: facts without an opinion. Answer with one word.")
REVIEWS = ("The battery died after two days, total waste of money.",
           "Works exactly as described and arrived early. Love it!",
           "The box contains a charger and a cable.",
           "Broke the first time I used it, asking for a refund.",
           "Best purchase I made this year, my kids adore it.",
           "It is blue and weighs about 300 grams.")
CHOICES = ("positive", "negative", "neutral")


def _requests(system: str = SYSTEM, **kw) -> list[Request]:
    return [Request((Message("system", system), Message("user", text)), **kw) for text in REVIEWS]


@pytest.fixture(scope="module")
def model():
    from honed.providers.local import LocalModel
    from honed.task.task import ModelConfig

    return LocalModel(ModelConfig(n_threads=2))


def _both(model, requests):
    one = [asyncio.run(model.complete(r)) for r in requests]
    return one, asyncio.run(model.complete_batch(requests))


@pytest.mark.model
@needs_model
def test_batched_choices_equal_one_at_a_time(model) -> None:
    one, batch = _both(model, _requests(max_tokens=8, output=OutputSpec(choices=CHOICES)))
    assert [c.text for c in batch] == [c.text for c in one]
    assert {c.text for c in batch} <= set(CHOICES)
    assert [c.usage for c in batch] == [c.usage for c in one]
    assert [c.finish_reason for c in batch] == [c.finish_reason for c in one]
    assert model.supports_batch is True


@pytest.mark.model
@needs_model
def test_batched_free_text_mostly_agrees_and_is_deterministic(model) -> None:
    requests = _requests(max_tokens=8)
    one, batch = _both(model, requests)
    same = sum(a.text == b.text for a, b in zip(one, batch, strict=True))
    assert same >= len(requests) // 2, [(a.text, b.text) for a, b in zip(one, batch, strict=True)]
    assert [c.usage.input_tokens for c in batch] == [c.usage.input_tokens for c in one]
    assert all(0 < c.usage.output_tokens <= 8 and c.latency_s > 0 for c in batch)
    again = asyncio.run(model.complete_batch(requests))
    assert [c.text for c in again] == [c.text for c in batch]


@pytest.mark.model
@needs_model
def test_mixed_prefixes_stops_and_fallbacks_keep_request_order(model) -> None:
    other = "Is this review about a toy? Answer yes or no."
    schema = {"type": "object", "properties": {"sentiment": {"type": "string",
              "enum": ["positive", "negative"]}}, "required": ["sentiment"]}
    requests = [*_requests(max_tokens=8, output=OutputSpec(choices=CHOICES))[:3],
                *_requests(other, max_tokens=4, output=OutputSpec(choices=("yes", "no")))[:3],
                Request((Message("user", REVIEWS[0]),), max_tokens=24, stop=(" ",)),
                Request((Message("user", REVIEWS[1]),), max_tokens=30,
                        output=OutputSpec(json_schema=schema))]
    one, batch = _both(model, requests)
    assert [c.text for c in batch[:6]] == [c.text for c in one[:6]]
    assert {c.text for c in batch[3:6]} <= {"yes", "no"}
    assert " " not in batch[6].text
    assert json.loads(batch[7].text)["sentiment"] in ("positive", "negative")


@pytest.mark.model
@needs_model
def test_choice_trie_on_the_real_vocabulary(model) -> None:
    tables = model._batch_engine().tables
    trie = ChoiceTrie(CHOICES, tables)
    first = {tables.special_pieces[t] for t in trie.allowed(b"").tolist()}
    assert b"positive" in first or b"pos" in first
    assert all(any(c.encode().startswith(p) for c in CHOICES) for p in first)
    assert set(trie.allowed(b"neutral").tolist()) == set(tables.eog)


@pytest.mark.model
@needs_model
def test_batched_latency_is_per_job_and_on_done_reports_each_finish(model) -> None:
    story = (Message("user", "Write a long story about a dragon who learns to bake bread."),)
    caps = [1, 24, 2, 40, 4, 12]
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    requests = [*(Request(story, max_tokens=cap) for cap in caps),
                Request(story, max_tokens=20, output=OutputSpec(json_schema=schema))]
    calls: list[tuple[int, object, int]] = []
    started = time.perf_counter()
    out = asyncio.run(model.complete_batch(
        requests, on_done=lambda i, c: calls.append((i, c, threading.get_ident()))))
    wall = time.perf_counter() - started

    assert sorted(i for i, _, _ in calls) == list(range(len(requests)))  # once per request
    assert all(out[i] is c for i, c, _ in calls)
    assert threading.get_ident() not in {t for _, _, t in calls}  # from the worker thread
    tokens = [c.usage.output_tokens for c in out[:6]]
    latency = [c.latency_s for c in out[:6]]
    # One shared prefix, all admitted together: they finish in order of output length, the
    # schema request (one at a time, after the batch) last.
    assert [i for i, _, _ in calls] == [*sorted(range(6), key=lambda i: (tokens[i], i)), 6]
    for i in range(6):
        for j in range(6):
            if tokens[i] < tokens[j]:
                assert latency[i] < latency[j], (tokens, latency)
    assert len(set(latency)) > 1 and min(latency) > 0 and max(latency) <= wall
    assert 0 < out[6].latency_s <= wall and json.loads(out[6].text)["ok"] in (True, False)


@pytest.mark.model
@needs_model
def test_an_on_done_error_aborts_the_batch_and_the_next_batch_still_works(model) -> None:
    requests = _requests(max_tokens=8, output=OutputSpec(choices=CHOICES))
    before = [c.text for c in asyncio.run(model.complete_batch(requests))]

    def boom(index: int, completion: object) -> None:
        raise KeyError("callback failed")

    with pytest.raises(KeyError):
        asyncio.run(model.complete_batch(requests, on_done=boom))
    assert [c.text for c in asyncio.run(model.complete_batch(requests))] == before
