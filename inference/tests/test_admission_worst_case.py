"""The reservation is a true worst case of what a request can generate, and absurd values are
refused before they reach Redis (issue 14, item 4). Plain Python and a real Redis, no LiteLLM."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis as redis_lib

from inference.proxy import admission as admission_module
from inference.proxy.admission import (
    Admission,
    Admitted,
    InvalidValue,
    apply_output_cap,
    completion_cap,
    nano_per_token,
    worst_case,
)
from inference.proxy.contract import CatalogModel, KeySnapshot, ScopeLimits
from inference.proxy.snapshots import async_redis

URL = "redis://127.0.0.1:6379/0"
MODEL = CatalogModel("m", "m", 4096, input_price_per_mtok="1", output_price_per_mtok="2", max_output_tokens=100)
PRICE_IN, PRICE_OUT = nano_per_token("1"), nano_per_token("2")
CHAT, TEXT, EMBED, RESPONSES = "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"
MESSAGE = [{"role": "user", "content": "hi"}]
BASE = {"model": "m", "messages": MESSAGE, "max_tokens": 10}


def snapshot() -> KeySnapshot:
    # An organization budget far above any test's cost: only the reservation is looked at.
    return KeySnapshot(
        key_id="k",
        org_id="o",
        user_id="u",
        scopes=(ScopeLimits("key", "k", budget_nano=10**15), ScopeLimits("org", "o")),
    )


def reserve(keys: Any, body: dict[str, Any], path: str = CHAT, model: CatalogModel = MODEL) -> int:
    """What one admission of body reserves (nano-USD), read back from Redis."""

    async def main() -> int:
        client = async_redis(URL, 2)
        try:
            admitted = await Admission(client, keys, 60.0).admit(snapshot(), model, body, path)
        finally:
            await client.aclose()
        assert isinstance(admitted, Admitted)
        before = redis_lib.Redis.from_url(URL).hget(admitted.budget_keys[0], "reserved")
        redis_lib.Redis.from_url(URL).delete(admitted.budget_keys[0])  # the next call starts from zero
        return int(before or 0)

    return asyncio.run(main())


def test_n_choices_reserve_n_completions(redis_prefix):
    one, three = reserve(redis_prefix, BASE), reserve(redis_prefix, {**BASE, "n": 3})
    assert three - one >= 2 * 10 * PRICE_OUT


def test_best_of_reserves_every_candidate_the_backend_generates(redis_prefix):
    body = {"model": "m", "prompt": "hi", "max_tokens": 10}
    one, best = reserve(redis_prefix, body, TEXT), reserve(redis_prefix, {**body, "n": 2, "best_of": 5}, TEXT)
    assert best - one >= 4 * 10 * PRICE_OUT


def test_a_list_of_prompts_reserves_a_completion_per_prompt_and_choice(redis_prefix):
    one = reserve(redis_prefix, {"model": "m", "prompt": "abcd", "max_tokens": 10}, TEXT)
    four = reserve(redis_prefix, {"model": "m", "prompt": ["a", "b", "c", "d"], "max_tokens": 10, "n": 2}, TEXT)
    assert four - one >= (4 * 2 - 1) * 10 * PRICE_OUT
    # A list of token ids is one prompt, not one per token.
    tokens = reserve(redis_prefix, {"model": "m", "prompt": [1, 2, 3, 4], "max_tokens": 10}, TEXT)
    assert tokens - one < 10 * PRICE_OUT


@pytest.mark.parametrize(
    "field",
    [
        {"tools": [{"type": "function", "function": {"name": "f", "description": "x" * 5000}}]},
        {"functions": [{"name": "f", "description": "x" * 5000}]},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "s", "description": "x" * 5000}}},
        {"tool_choice": {"type": "function", "function": {"name": "x" * 5000}}},
        {"logit_bias": {str(i): 1 for i in range(700)}},  # any field: the whole body is bounded
    ],
    ids=lambda field: next(iter(field)),
)
def test_every_prompt_bearing_field_counts(redis_prefix, field):
    assert reserve(redis_prefix, {**BASE, **field}) - reserve(redis_prefix, BASE) >= 5000 * PRICE_IN


def test_embeddings_reserve_every_input_and_no_completion(redis_prefix):
    small = reserve(redis_prefix, {"model": "m", "input": "a"}, EMBED)
    many = reserve(redis_prefix, {"model": "m", "input": ["a" * 1000] * 5, "max_tokens": 10}, EMBED)
    assert many - small >= 5000 * PRICE_IN
    assert completion_cap({"model": "m", "input": "a", "max_tokens": 10}, MODEL, EMBED) == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"max_tokens": 50, "max_completion_tokens": 10}, 10),  # the backend stops at the smaller cap
        ({"max_tokens": 10, "max_completion_tokens": 50}, 10),
        ({"max_completion_tokens": 20}, 20),
        ({"max_tokens": None, "max_completion_tokens": 20}, 20),  # null is "not sent"
        ({"max_tokens": 10**6}, 100),  # clamped to the model's max_output_tokens
        ({}, 100),
    ],
)
def test_the_smallest_client_cap_wins_clamped_to_the_model(body, expected):
    assert completion_cap({"model": "m", "messages": MESSAGE, **body}, MODEL, CHAT) == expected


def test_the_cap_is_clamped_to_the_context_window():
    small = CatalogModel("s", "s", 64, input_price_per_mtok="1", output_price_per_mtok="2", max_output_tokens=1000)
    assert completion_cap({"model": "s", "max_tokens": 500}, small, CHAT) == 64
    assert completion_cap({"model": "s", "max_output_tokens": 30}, small, RESPONSES) == 30


def test_responses_reserve_the_minimum_output_the_backend_writes_anyway():
    # Measured: max_output_tokens=3 on /v1/responses came back with 16 output tokens.
    assert completion_cap({"model": "m", "input": "x", "max_output_tokens": 3}, MODEL, RESPONSES) == 16
    assert completion_cap({"model": "m", "input": "x", "max_tokens": 2}, MODEL, RESPONSES) == 16
    assert completion_cap({"model": "m", "messages": MESSAGE, "max_tokens": 3}, MODEL, CHAT) == 3


@pytest.mark.parametrize(
    "value", [0, -1, 2**31, 10**30, 1e30, -1e30, 0.5, 1.5, 10.0, float("nan"), float("inf"), "10", True, [10], {"n": 1}]
)
@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens", "n", "best_of"])
def test_absurd_values_are_refused_before_redis(redis_prefix, name, value):
    with pytest.raises(ValueError) as refused:
        reserve(redis_prefix, {**BASE, name: value})
    assert getattr(refused.value, "param", None) == name
    assert getattr(refused.value, "code", None) in {
        "invalid_type",
        "integer_below_min_value",
        "integer_above_max_value",
    }
    assert not redis_lib.Redis.from_url(URL).keys(redis_prefix.requests_window("*", "*", "*"))  # nothing was counted


def test_a_worst_case_too_large_to_reserve_exactly_is_refused_not_a_redis_error(redis_prefix):
    dear = CatalogModel(
        "d", "d", 2**31 - 1, input_price_per_mtok="999999.999999", output_price_per_mtok="999999.999999",
        max_output_tokens=2**31 - 1,
    )  # fmt: skip
    with pytest.raises(ValueError) as refused:
        reserve(redis_prefix, {"model": "d", "prompt": "hi", "max_tokens": 2**31 - 1, "n": 128}, TEXT, dear)
    assert getattr(refused.value, "code", None) == "worst_case_too_large"


def test_a_large_reservation_is_held_to_the_nano_dollar(redis_prefix):
    # Just under the largest reservation: Lua's number formatting must not round it.
    dear = CatalogModel(
        "d", "d", 10**6, input_price_per_mtok="0", output_price_per_mtok="999999.999999", max_output_tokens=10**6
    )
    body = {"model": "d", "messages": MESSAGE, "max_tokens": 99_999}
    assert reserve(redis_prefix, body, CHAT, dear) == 99_999 * nano_per_token("999999.999999")


def test_a_prompt_with_lone_surrogates_is_bounded_not_an_error(redis_prefix):
    assert reserve(redis_prefix, {**BASE, "messages": [{"role": "user", "content": "\ud800" * 100}]}) >= 300 * PRICE_IN


def test_the_largest_reservation_fits_lua_number_formatting():
    # Lua formats numbers with %.14g when it hands them to Redis (HINCRBY) or cjson: above 14
    # digits they turn into 1e+14 and Redis refuses them.
    assert len(str(admission_module.MAX_RESERVATION)) <= 14


def _capped(data: dict[str, Any], path: str = CHAT) -> dict[str, Any]:
    apply_output_cap(data, worst_case(data, MODEL, path).metadata())
    return data


def test_the_cap_is_written_into_the_forwarded_request_whatever_the_client_sent():
    assert _capped({"model": "m", "messages": MESSAGE})["max_tokens"] == 100  # none sent: the model's
    assert _capped({"model": "m", "prompt": "x", "max_tokens": 10**6}, TEXT)["max_tokens"] == 100
    both = _capped({"model": "m", "messages": MESSAGE, "max_tokens": 50, "max_completion_tokens": 7})
    assert (both["max_tokens"], both["max_completion_tokens"]) == (7, 7)
    # Backends' own names (llama-server reads n_predict before max_tokens) and extra_body (merged
    # over the top level by the OpenAI client) may only ask for less.
    smuggled = _capped(
        {
            "model": "m",
            "messages": MESSAGE,
            "max_tokens": 20,
            "n_predict": -1,
            "num_predict": 5,
            "extra_body": {"max_tokens": 10**9},
        }
    )
    assert (smuggled["max_tokens"], smuggled["n_predict"], smuggled["num_predict"]) == (20, 20, 5)
    assert smuggled["extra_body"] == {"max_tokens": 20}
    responses = _capped({"model": "m", "input": "x", "max_output_tokens": 10**6}, RESPONSES)
    assert responses["max_output_tokens"] == 100 and "max_tokens" not in responses
    embeddings = {"model": "m", "input": "x"}
    assert _capped(dict(embeddings), EMBED) == embeddings  # nothing is generated, nothing written


@pytest.mark.parametrize(
    ("body", "path", "param"),
    [
        ({**BASE, "n": 2}, CHAT, "n"),
        ({**BASE, "best_of": 3}, CHAT, "best_of"),
        ({"model": "m", "prompt": ["a", "b"], "max_tokens": 3}, TEXT, "prompt"),
    ],
)
def test_more_completions_than_the_operator_allows_are_a_400_naming_the_field(body, path, param):
    # llama-server generates n choices but reports the usage of one: served, they would be billed once.
    with pytest.raises(InvalidValue) as refused:
        worst_case(body, MODEL, path, most=1)
    assert (refused.value.code, refused.value.param) == ("too_many_completions", param)
    assert worst_case({**body, "n": 1, "best_of": 1}, MODEL, path, most=2).completions <= 2


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (CHAT, {"model": "m"}, "messages"),
        (CHAT, {"model": "m", "messages": []}, "messages"),
        (CHAT, {"model": "m", "messages": "hi"}, "messages"),
        (CHAT, {"model": "m", "messages": [{"content": "no role"}]}, "messages"),
        (CHAT, {"model": "m", "messages": [None]}, "messages"),
        (TEXT, {"model": "m", "prompt": None}, "prompt"),
        (TEXT, {"model": "m", "prompt": []}, "prompt"),
        (TEXT, {"model": "m", "prompt": [{"a": 1}]}, "prompt"),
        (TEXT, {"model": "m", "prompt": ["a", None]}, "prompt"),
        (EMBED, {"model": "m", "input": ""}, "input"),
        (EMBED, {"model": "m", "input": 3}, "input"),
        (RESPONSES, {"model": "m"}, "input"),
    ],
)
def test_a_request_without_a_well_formed_prompt_is_a_400_naming_it(path, body, param):
    # Such requests used to reach LiteLLM, which answered them with a 500 (fuzz test).
    with pytest.raises(InvalidValue) as refused:
        worst_case(body, MODEL, path)
    assert (refused.value.code, refused.value.param) == ("invalid_prompt", param)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, BASE),
        (CHAT, {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
        (TEXT, {"model": "m", "prompt": "hi"}),
        (TEXT, {"model": "m", "prompt": [1, 2, 3]}),
        (TEXT, {"model": "m", "prompt": [[1, 2], [3]]}),
        (EMBED, {"model": "m", "input": ["a", "b"]}),
        (RESPONSES, {"model": "m", "input": [{"role": "user", "content": "hi"}]}),
    ],
)
def test_every_prompt_shape_openai_accepts_is_admitted(path, body):
    assert worst_case(body, MODEL, path).prompt_tokens > 0
