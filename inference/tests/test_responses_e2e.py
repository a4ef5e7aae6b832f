"""The Responses API and tools, end to end: the unmodified OpenAI SDK through the public origin
to the local SmolLM2 on ``llama-server --jinja``, admitted and billed like chat."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import openai
import pytest

from inference.tests.test_embeddings_e2e import billed

pytestmark = pytest.mark.stack
MODEL = "smollm2"
PRICE_IN, PRICE_OUT = Decimal("0.10"), Decimal("0.20")  # USD per million tokens (StackConfig)
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def cost(prompt: int, completion: int) -> Decimal:
    return (Decimal(prompt) * PRICE_IN + Decimal(completion) * PRICE_OUT) / 1_000_000


@pytest.fixture(scope="module")
def key(e2e) -> dict[str, Any]:
    return e2e.create_key(e2e.login(), name="responses")


@pytest.fixture(scope="module")
def client(e2e, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=e2e.public + "/v1", api_key=str(key["secret"]), max_retries=0, timeout=60)


def test_it_answers_the_responses_api_and_bills_its_usage(e2e, key, client):
    raw = client.responses.with_raw_response.create(model=MODEL, input="Say hello.", max_output_tokens=16)
    response = raw.parse()
    assert response.object == "response" and response.status in ("completed", "incomplete")
    assert response.output_text
    assert response.usage is not None
    assert response.usage.input_tokens > 0 and 0 < response.usage.output_tokens <= 16

    row = billed(e2e, raw.headers["x-litellm-call-id"])
    assert row["model"] == MODEL and row["status"] == "success" and str(row["key_id"]) == str(key["id"])
    usage = response.usage
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage.input_tokens, usage.output_tokens)
    assert row["cost"] == cost(usage.input_tokens, usage.output_tokens)


def test_it_streams_the_responses_api_and_bills_the_stream(e2e, client):
    with client.responses.with_streaming_response.create(
        model=MODEL, input="Count to three.", max_output_tokens=16, stream=True
    ) as raw:
        call_id = raw.headers["x-litellm-call-id"]
        events = list(raw.parse())
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed", types
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    usage = events[-1].response.usage
    assert deltas and usage is not None and 0 < usage.output_tokens <= 16

    row = billed(e2e, call_id)
    assert row["status"] == "success" and row["stream"] is True
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage.input_tokens, usage.output_tokens)
    assert row["cost"] == cost(usage.input_tokens, usage.output_tokens)


def test_it_caps_the_responses_output_at_the_reserved_tokens(e2e, client):
    # max_output_tokens is the cap admission reserves for and writes into the forwarded request.
    response = client.responses.create(model=MODEL, input="Write a long story about a dragon.", max_output_tokens=20)
    assert response.usage is not None and response.usage.output_tokens <= 20


def few_shot(city: str = "London") -> list[dict[str, Any]]:
    """An earlier turn in which the assistant called the tool: the pattern a 135M model follows."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
    }
    return [{"role": "user", "content": f"What is the weather in {city}?"}, {"role": "assistant", "tool_calls": [call]}]


def test_it_forwards_tools_and_returns_the_tool_call_in_openai_shape(e2e, client):
    # SmolLM2 runs on llama-server --jinja with a chat template that describes tools (its own ignores
    # them); tool_choice "required" makes llama-server parse the call by a grammar built from the
    # schema. Greedy decoding after one earlier call makes the 135M model call get_weather, a name that
    # only the forwarded schema carries.
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[*few_shot(), QUESTION],
        tools=[WEATHER],
        tool_choice="required",
        temperature=0,
        max_tokens=48,
    )
    reply = raw.parse()
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].id
    assert calls[0].type == "function" and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}

    row = billed(e2e, raw.headers["x-litellm-call-id"])
    assert row["status"] == "success"
    usage = reply.usage
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert row["cost"] == cost(usage.prompt_tokens, usage.completion_tokens)

    # The tool's result goes back as a tool message, and the conversation goes on.
    follow = client.chat.completions.create(
        model=MODEL,
        messages=[
            QUESTION,
            choice.message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}),
            {"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps({"temp_c": 21, "sky": "clear"})},
        ],
        tools=[WEATHER],
        max_tokens=16,
    )
    assert follow.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_it_counts_the_tools_in_the_prompt(e2e, client):
    # The schema reaches the model: the same question costs more prompt tokens with the tool.
    plain = client.chat.completions.create(model=MODEL, messages=[QUESTION], max_tokens=1)
    with_tools = client.chat.completions.create(model=MODEL, messages=[QUESTION], tools=[WEATHER], max_tokens=1)
    schema_tokens = len(json.dumps(WEATHER).split())  # a lower bound: every word is at least one token
    assert with_tools.usage.prompt_tokens > plain.usage.prompt_tokens + schema_tokens


def test_it_answers_the_responses_api_with_a_function_call(e2e, client):
    tool = {"type": "function", **WEATHER["function"]}
    earlier = [
        {"role": "user", "content": "What is the weather in London?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "London"}'},
        QUESTION,
    ]
    raw = client.responses.with_raw_response.create(
        model=MODEL, input=earlier, tools=[tool], tool_choice="required", temperature=0, max_output_tokens=48
    )
    response = raw.parse()
    calls = [item for item in response.output if item.type == "function_call"]
    assert len(calls) == 1, response.output
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"}
    assert calls[0].call_id
    assert response.usage is not None
    row = billed(e2e, raw.headers["x-litellm-call-id"])
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
    )


def test_it_refuses_tools_of_the_wrong_type_before_the_backend(e2e, client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], tools={"not": "a list"}, max_tokens=1
        )
    assert refused.value.status_code == 400
