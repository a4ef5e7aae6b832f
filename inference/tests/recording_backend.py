"""An OpenAI-compatible backend for tests that records every request it receives.

``GET /_recorded`` returns what it saw (method, path, headers, body), so tests can prove what
LiteLLM forwarded upstream (e.g. that a client's body ``api_key`` never arrives). Replies are
canned, in the shapes of the OpenAI API (checked by the openai SDK parsing them in the tests).
Run: ``python -m uvicorn inference.tests.recording_backend:app --port N``.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

RECORDED: list[dict[str, Any]] = []
REPLY = "recorded"


async def _record(request: Request) -> dict[str, Any]:
    raw = await request.body()
    body = json.loads(raw) if raw else None
    RECORDED.append(
        {"method": request.method, "path": request.url.path, "headers": dict(request.headers), "body": body}
    )
    return body or {}


def _usage(body: dict[str, Any]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {"prompt_tokens": prompt, "completion_tokens": 1, "total_tokens": prompt + 1}


SATURATED = "__saturated__"  # a message with this content gets the 429 an overloaded backend sends


async def chat(request: Request) -> Any:
    body = await _record(request)
    if any(m.get("content") == SATURATED for m in body.get("messages", [])):
        error = {"message": "Server is overloaded", "type": "rate_limit_error", "code": "rate_limit_exceeded"}
        return JSONResponse({"error": error}, status_code=429, headers={"Retry-After": "1"})
    call_id, created, model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body.get("model", "recorder")
    if body.get("stream"):

        async def chunks() -> AsyncIterator[bytes]:
            base = {"id": call_id, "object": "chat.completion.chunk", "created": created, "model": model}

            def event(**fields: Any) -> bytes:
                return f"data: {json.dumps({**base, **fields})}\n\n".encode()

            delta = {"role": "assistant", "content": REPLY}
            yield event(choices=[{"index": 0, "delta": delta, "finish_reason": None}])
            yield event(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
            if (body.get("stream_options") or {}).get("include_usage"):
                yield event(choices=[], usage=_usage(body))
            yield b"data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")
    return JSONResponse(
        {
            "id": call_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
            "usage": _usage(body),
        }
    )


async def models(request: Request) -> JSONResponse:
    await _record(request)
    return JSONResponse({"object": "list", "data": [{"id": "recorder", "object": "model", "owned_by": "test"}]})


async def recorded(request: Request) -> JSONResponse:
    return JSONResponse(RECORDED)


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/_recorded", recorded, methods=["GET"]),
    ]
)
