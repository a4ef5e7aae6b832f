"""The OpenAI JS SDK (npm ``openai``), unchanged, against the stack's public origin with a tenant key:
chat, a stream, embeddings, the Responses API and tools (stack/tests/sdk_js/smoke.mjs)."""

import json
import os
import shutil
import subprocess
import time

import pytest

from stack.stack import EMBEDDINGS_MODEL, ROOT
from stack.testing import E2E

pytestmark = pytest.mark.stack
SCRIPT = ROOT / "stack" / "tests" / "sdk_js" / "smoke.mjs"
SDK = ROOT / "frontend" / "node_modules" / "openai" / "package.json"


def test_it_runs_chat_stream_embeddings_responses_and_tools_with_the_js_sdk(e2e: E2E) -> None:
    node = shutil.which("node")
    assert node, "Node.js is missing (bin/_setup.sh installs it)"
    assert SDK.is_file(), "frontend/node_modules/openai is missing: bin/_frontend.sh installs the portal's packages"
    key = e2e.create_key(e2e.login(), name="js-sdk")
    env = {
        **os.environ,
        "LLMAAS_BASE_URL": e2e.public + "/v1",
        "LLMAAS_API_KEY": str(key["secret"]),
        "LLMAAS_CHAT_MODEL": "smollm2",
        "LLMAAS_EMBEDDING_MODEL": EMBEDDINGS_MODEL,
    }
    run = subprocess.run([node, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert out["chat"]["content"] and out["chat"]["usage"]["completion_tokens"] > 0
    assert out["stream"]["content"] and out["stream"]["chunks"] > 1
    assert out["stream"]["usage"]["completion_tokens"] > 0
    assert out["embeddings"]["count"] == 2 and out["embeddings"]["dimensions"] == [384, 384]
    assert out["embeddings"]["finite"] and out["embeddings"]["usage"]["prompt_tokens"] > 0
    assert out["responses"]["output_text"] and out["responses"]["usage"]["output_tokens"] > 0
    assert out["tools"]["finish_reason"] == "tool_calls"
    assert out["tools"]["tool_calls"][0]["type"] == "function"
    assert out["tools"]["tool_calls"][0]["name"] == "get_weather"
    assert json.loads(out["tools"]["tool_calls"][0]["arguments"]) == {"city": "Paris"}

    # Every call was billed to the key: 5 calls, one row each, all successful.
    rows = e2e.sql("SELECT count(*), bool_and(status = 'success') FROM request_logs WHERE key_id = %s", key["id"])
    for _ in range(150):
        if rows[0][0] == 5:
            break
        time.sleep(0.2)
        rows = e2e.sql("SELECT count(*), bool_and(status = 'success') FROM request_logs WHERE key_id = %s", key["id"])
    assert rows[0] == (5, True)
