"""/v1/embeddings end to end: a tenant key through the public origin (nginx → LiteLLM → our hooks)
to a real ``llama-server --embeddings`` serving all-MiniLM-L6-v2, billed by input tokens."""

from __future__ import annotations

import base64
import time
from decimal import Decimal
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from stack.stack import EMBEDDINGS_MODEL

pytestmark = pytest.mark.stack
PRICE_IN = Decimal("0.02")  # USD per million input tokens (stack.stack.embeddings_model)


def billed(e2e: Any, call_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The call's request_logs row, once the shipper has delivered it."""
    columns = ("model", "prompt_tokens", "completion_tokens", "cost", "status", "stream", "key_id")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = e2e.sql(f"SELECT {', '.join(columns)} FROM request_logs WHERE call_id = %s", call_id)
        if rows:
            assert len(rows) == 1, rows
            return dict(zip(columns, rows[0], strict=True))
        time.sleep(0.2)
    raise AssertionError(f"no request_logs row for {call_id} after {timeout} s")


@pytest.fixture(scope="module")
def key(e2e) -> dict[str, Any]:
    return e2e.create_key(e2e.login(), name="embeddings")


@pytest.fixture(scope="module")
def client(e2e, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=e2e.public + "/v1", api_key=str(key["secret"]), max_retries=0, timeout=60)


def test_it_returns_real_384_dimensional_vectors_billed_by_input_tokens(e2e, key, client):
    raw = client.embeddings.with_raw_response.create(
        model=EMBEDDINGS_MODEL, input=["a cat sits on the mat", "a kitten rests on the rug", "interest rates rose"]
    )
    reply = raw.parse()
    vectors = [np.array(d.embedding) for d in sorted(reply.data, key=lambda d: d.index)]
    assert [v.shape for v in vectors] == [(384,)] * 3
    assert all(abs(float(np.linalg.norm(v)) - 1) < 1e-3 for v in vectors)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2  # real sentence embeddings, not noise
    assert reply.usage.prompt_tokens > 3 * 2  # [CLS] and [SEP] around each input at least

    row = billed(e2e, raw.headers["x-litellm-call-id"])
    assert row["model"] == EMBEDDINGS_MODEL and row["status"] == "success" and row["stream"] is False
    assert str(row["key_id"]) == str(key["id"])
    assert (row["prompt_tokens"], row["completion_tokens"]) == (reply.usage.prompt_tokens, 0)
    assert row["cost"] == Decimal(reply.usage.prompt_tokens) * PRICE_IN / 1_000_000


def test_it_takes_one_string_and_base64(e2e, client):
    one = client.embeddings.create(model=EMBEDDINGS_MODEL, input="hello world")
    assert len(one.data) == 1 and len(one.data[0].embedding) == 384
    # The SDK asks for base64 by default when numpy is present and decodes it; ask explicitly too.
    encoded = httpx.post(
        f"{e2e.public}/v1/embeddings",
        json={"model": EMBEDDINGS_MODEL, "input": "hello world", "encoding_format": "base64"},
        headers={"Authorization": f"Bearer {client.api_key}"},
        timeout=60,
    )
    assert encoded.status_code == 200, encoded.text
    vector = np.frombuffer(base64.b64decode(encoded.json()["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == (384,)
    assert float(vector @ np.array(one.data[0].embedding)) == pytest.approx(1.0, abs=1e-3)


def test_it_refuses_an_empty_input_before_the_backend(e2e, client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model=EMBEDDINGS_MODEL, input="")
    assert refused.value.code == "invalid_prompt"


def test_it_reserves_only_the_input_and_refuses_what_the_budget_cannot_cover(e2e):
    # $0.00001 covers 500 input tokens at $0.02/M: a short input passes, a long one (its worst
    # case is its byte length; nothing is generated) is refused before any backend sees it.
    admin = e2e.login()
    key = e2e.create_key(admin, name="embeddings-budget", budget_usd="0.00001")
    client = openai.OpenAI(base_url=e2e.public + "/v1", api_key=str(key["secret"]), max_retries=0, timeout=60)
    assert len(client.embeddings.create(model=EMBEDDINGS_MODEL, input="short").data[0].embedding) == 384
    with pytest.raises(openai.RateLimitError) as refused:
        client.embeddings.create(model=EMBEDDINGS_MODEL, input="word " * 200)
    assert refused.value.code == "insufficient_quota"


def test_it_refuses_a_route_the_model_does_not_serve(e2e, client):
    with pytest.raises(openai.BadRequestError) as chat_model:
        client.embeddings.create(model="smollm2", input="hello")
    assert chat_model.value.code == "model_not_supported"
    with pytest.raises(openai.BadRequestError) as embedding_model:
        client.chat.completions.create(model=EMBEDDINGS_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert embedding_model.value.code == "model_not_supported"
