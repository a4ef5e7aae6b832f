"""An OpenAI-compatible backend for the GPU-cost test: each chat call takes TIMED_BACKEND_DELAY_MS
(default 500) and is recorded with its start and end (wall clock), so that the backend's busy
time (the union of those intervals) is measured here, independently of the proxy's request logs.
``GET /_intervals`` returns them; ``GET /v1/models`` answers probes.
Run: ``python -m uvicorn inference.tests.timed_backend:app --port N``.
"""

import asyncio
import json
import os
import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DELAY = float(os.environ.get("TIMED_BACKEND_DELAY_MS", "500")) / 1000
INTERVALS: list[tuple[float, float]] = []


async def chat(request: Request) -> Response:
    started = time.time()
    body = json.loads(await request.body())
    await asyncio.sleep(DELAY)
    reply = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(started),
        "model": body.get("model", "timed"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    INTERVALS.append((started, time.time()))
    return JSONResponse(reply)


async def intervals(request: Request) -> Response:
    return JSONResponse(INTERVALS)


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "timed", "object": "model", "created": 0, "owned_by": "t"}]})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models),
        Route("/_intervals", intervals),
    ]
)
