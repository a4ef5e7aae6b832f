"""A fast OpenAI-compatible backend for benchmarks: canned replies, optional per-chunk delay.

FAST_BACKEND_SLOTS=N (default 0: unlimited) serves at most N streams at once, the others wait
in line for a slot, like llama-server's --parallel slots; FAST_BACKEND_HONOR_MAX_TOKENS=1 streams
max_tokens chunks (at most 2,000) instead of FAST_BACKEND_CHUNKS (B13's backends).

It exposes the proxy's own overhead (the real model would drown it). Streams end with a
usage chunk when asked (stream_options.include_usage), like llama-server and OpenAI.
Run: python -m uvicorn bench.fast_backend:app --port N --no-access-log
"""

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNKS = int(os.environ.get("FAST_BACKEND_CHUNKS", "8"))
CHUNK_DELAY = float(os.environ.get("FAST_BACKEND_CHUNK_DELAY_MS", "0")) / 1000
HONOR_MAX_TOKENS = os.environ.get("FAST_BACKEND_HONOR_MAX_TOKENS") == "1"
SLOTS = int(os.environ.get("FAST_BACKEND_SLOTS", "0"))
_slots = asyncio.Semaphore(SLOTS) if SLOTS > 0 else None
_served = {"streams": 0}  # GET /stats
USAGE = {"prompt_tokens": 12, "completion_tokens": CHUNKS, "total_tokens": 12 + CHUNKS}


async def chat(request: Request) -> Response:
    body = json.loads(await request.body())
    base = {"id": "chatcmpl-fast", "created": int(time.time()), "model": body.get("model", "fast")}
    if not body.get("stream"):
        message = {"role": "assistant", "content": "ok " * CHUNKS}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return JSONResponse({**base, "object": "chat.completion", "choices": [choice], "usage": USAGE})

    async def events() -> AsyncIterator[bytes]:
        _served["streams"] += 1
        if _slots is None:
            async for event in stream():
                yield event
            return
        async with _slots:
            async for event in stream():
                yield event

    chunks = min(int(body.get("max_tokens") or CHUNKS), 2000) if HONOR_MAX_TOKENS else CHUNKS
    usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}

    async def stream() -> AsyncIterator[bytes]:
        chunk: dict[str, Any] = {**base, "object": "chat.completion.chunk"}
        for i in range(chunks):
            if CHUNK_DELAY:
                await asyncio.sleep(CHUNK_DELAY)
            delta = {"role": "assistant", "content": "ok "} if i == 0 else {"content": "ok "}
            yield f"data: {json.dumps({**chunk, 'choices': [{'index': 0, 'delta': delta}]})}\n\n".encode()
        done = {"index": 0, "delta": {}, "finish_reason": "stop"}
        yield f"data: {json.dumps({**chunk, 'choices': [done]})}\n\n".encode()
        if (body.get("stream_options") or {}).get("include_usage"):
            yield f"data: {json.dumps({**chunk, 'choices': [], 'usage': usage})}\n\n".encode()
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"id": "fast", "object": "model", "owned_by": "bench"}]})


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(_served)


app = Starlette(
    routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models), Route("/stats", stats)]
)
