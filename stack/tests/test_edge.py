"""The public origin's edge (nginx): TLS with the stack's self-signed certificate, HSTS on TLS only,
the portal's Content-Security-Policy, and the per-address limit on sign-in endpoints."""

from __future__ import annotations

import ssl
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from openai import DefaultHttpxClient, OpenAI

pytestmark = pytest.mark.stack


def trusting(e2e: Any) -> ssl.SSLContext:
    """A TLS context that trusts the stack's self-signed certificate (and nothing else)."""
    certificate, _ = e2e.stack.tls_files
    return ssl.create_default_context(cafile=str(certificate))


@pytest.fixture(scope="module")
def tls(e2e: Any) -> Iterator[httpx.Client]:
    config = e2e.stack.config
    assert config.public_tls_port, "the test stack runs a TLS listener"
    with httpx.Client(base_url=config.public_tls_url, verify=trusting(e2e), timeout=30) as client:
        yield client


def test_it_serves_the_api_over_tls_with_hsts(tls: httpx.Client, e2e: Any) -> None:
    response = tls.get("/api/health")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    plain = httpx.get(f"{e2e.public}/api/health", timeout=30)
    assert plain.status_code == 200
    assert "strict-transport-security" not in plain.headers  # meaningless (and ignored) over HTTP


def test_it_refuses_tls_clients_that_do_not_trust_the_certificate(e2e: Any) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{e2e.stack.config.public_tls_url}/api/health", timeout=30)  # system CAs only


def test_it_answers_the_openai_sdk_over_tls(tls: httpx.Client, e2e: Any) -> None:
    key = e2e.create_key(e2e.login(), models=["tiny"])["secret"]
    client = OpenAI(
        base_url=f"{e2e.stack.config.public_tls_url}/v1",
        api_key=str(key),
        http_client=DefaultHttpxClient(verify=trusting(e2e)),
    )
    reply = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    assert reply.usage is not None and reply.usage.completion_tokens == 3


def test_it_sends_the_portal_with_a_content_security_policy(tls: httpx.Client, e2e: Any) -> None:
    if not (e2e.stack.config.portal_dist / "index.html").is_file():
        pytest.fail("the portal is not built: bin/test builds frontend/dist")
    for path in ("/", "/dashboard", "/keys"):
        response = tls.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_it_slows_a_flood_of_sign_in_requests_from_one_address(e2e: Any) -> None:
    with httpx.Client(base_url=e2e.public, timeout=30, limits=httpx.Limits(max_connections=16)) as client:
        # 16 at a time: far faster than the limit's refill (20/s), whatever this machine's load.
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda _: client.get("/api/auth/csrf"), range(600)))
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) == {200, 429}, statuses
        assert statuses[200] >= 100  # the burst a real client might send passes
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.json()["error"]["code"] == "too_many_requests"
        assert refused.headers["retry-after"] == "1"
        # The limit refills: other tests of this stack sign in again within seconds.
        deadline = time.monotonic() + 30
        while client.get("/api/auth/csrf").status_code == 429:
            assert time.monotonic() < deadline, "the sign-in limit never refilled"
            time.sleep(0.5)
    time.sleep(100 / 20)  # the whole burst back (20/s), for the tests that sign in after this one
