"""An HTTP server implementing the Ollama endpoints our driver uses (Ollama's docs/api.md): ``GET
/api/tags``, ``POST /api/show``, ``GET /api/ps``, ``POST /api/pull`` (JSON lines of progress),
``POST /api/generate`` (a keep-alive load or unload, no prompt) and the OpenAI-compatible ``POST
/v1/chat/completions``. Ollama itself cannot run here (no binary, no registry).

Both directions are held to the ``ollama`` PyPI client's own pydantic types: every request body
must parse as the client's request model and carry no field it lacks (else a 400 the tests see),
and every reply is built, then parsed by the client's response model before it is sent (else a
500). ``app.state.requests`` keeps what arrived.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ollama import _types as ollama_types
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from inference.proxy.backend_load import ollama_name

CREATED = "2026-12-01T10:00:00.000000000Z"


@dataclass
class Published:
    """A model the fake registry offers: its manifest digest, its layers' sizes, its details."""

    digest: str
    layers: list[int]
    quantization: str = "Q4_K_M"
    family: str = "llama"
    parameter_size: str = "1.2B"

    @property
    def size(self) -> int:
        return sum(self.layers)


@dataclass
class State:
    registry: dict[str, Published]
    pulled: set[str] = field(default_factory=set)
    loaded: dict[str, float] = field(default_factory=dict)  # name → expires (epoch seconds)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class BadRequest(Exception):
    pass


async def _body(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body is not an object")
    unknown = set(body) - set(model.model_fields)
    if unknown:
        raise BadRequest(f"{model.__name__} has no field {sorted(unknown)}")
    try:
        model.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(f"not a {model.__name__}: {exc.errors()[:1]}") from None
    request.app.state.fake.requests.append((request.url.path, body))
    return body


def _reply(model: type[BaseModel], data: dict[str, Any], status: int = 200) -> JSONResponse:
    model.model_validate(data)  # a reply the client could not parse is the fake's own bug: a 500
    return JSONResponse(data, status_code=status)


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _details(p: Published) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": p.family,
        "families": [p.family],
        "parameter_size": p.parameter_size,
        "quantization_level": p.quantization,
    }


def _state(request: Request) -> State:
    state: State = request.app.state.fake
    now = time.time()
    for name, expires in list(state.loaded.items()):
        if expires <= now:
            del state.loaded[name]
    return state


async def tags(request: Request) -> Response:
    state = _state(request)
    models = [
        {
            "name": name,
            "model": name,
            "modified_at": CREATED,
            "size": state.registry[name].size,
            "digest": state.registry[name].digest,
            "details": _details(state.registry[name]),
        }
        for name in sorted(state.pulled)
    ]
    return _reply(ollama_types.ListResponse, {"models": models})


async def ps(request: Request) -> Response:
    state = _state(request)
    models = [
        {
            "name": name,
            "model": name,
            "size": state.registry[name].size,
            "digest": state.registry[name].digest,
            "details": _details(state.registry[name]),
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
            "size_vram": state.registry[name].size,
            "context_length": 4096,
        }
        for name, expires in sorted(state.loaded.items())
    ]
    return _reply(ollama_types.ProcessResponse, {"models": models})


async def show(request: Request) -> Response:
    body = await _body(request, ollama_types.ShowRequest)
    state, name = _state(request), ollama_name(body["model"])
    if name not in state.pulled:
        return _error(f"model '{body['model']}' not found", 404)
    published = state.registry[name]
    data = {
        "modelfile": f"FROM {name}\n",
        "parameters": 'stop "<|im_end|>"',
        "template": "{{ .Prompt }}",
        "details": _details(published),
        "model_info": {"general.architecture": published.family, "general.parameter_count": 1_235_814_432},
        "capabilities": ["completion"],
        "modified_at": CREATED,
    }
    return _reply(ollama_types.ShowResponse, data)


async def pull(request: Request) -> Response:
    body = await _body(request, ollama_types.PullRequest)
    state, name = _state(request), ollama_name(body["model"])
    published = state.registry.get(name)

    async def lines() -> AsyncIterator[bytes]:
        def line(**data: Any) -> bytes:
            if "error" not in data:
                ollama_types.ProgressResponse.model_validate(data)
            return (json.dumps(data) + "\n").encode()

        yield line(status="pulling manifest")
        if published is None:
            yield line(error="pull model manifest: file does not exist")
            return
        for index, size in enumerate(published.layers):
            layer = f"sha256:{index:02d}{published.digest.removeprefix('sha256:')[2:]}"
            for done in (0, size // 2, size):
                await asyncio.sleep(0)
                yield line(status=f"pulling {layer[7:19]}", digest=layer, total=size, completed=done)
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            yield line(status=status)
        state.pulled.add(name)

    if body.get("stream") is False:
        return _error("the fake streams its pulls only", 400)
    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _keep_alive_seconds(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    units = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


async def generate(request: Request) -> Response:
    body = await _body(request, ollama_types.GenerateRequest)
    state, name = _state(request), ollama_name(body["model"])
    if name not in state.pulled:
        return _error(f"model '{body['model']}' not found", 404)
    if body.get("prompt"):
        return _error("the fake only loads and unloads (no prompt)", 400)
    keep = _keep_alive_seconds(body.get("keep_alive", "5m"))
    if keep == 0:
        state.loaded.pop(name, None)
        reason = "unload"
    else:
        state.loaded[name] = time.time() + (10**9 if keep < 0 else keep)
        reason = "load"
    data = {"model": name, "created_at": CREATED, "response": "", "done": True, "done_reason": reason}
    return _reply(ollama_types.GenerateResponse, data)


async def chat(request: Request) -> Response:
    body = json.loads(await request.body())
    state, name = _state(request), ollama_name(str(body.get("model")))
    request.app.state.fake.requests.append((request.url.path, body))
    if name not in state.pulled:
        error = {"message": f'model "{body.get("model")}" not found, try pulling it first', "type": "api_error"}
        return JSONResponse({"error": error}, status_code=404)
    state.loaded[name] = time.time() + 300  # Ollama's default keep-alive: five minutes
    message = {"role": "assistant", "content": "pong"}
    return JSONResponse(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
        }
    )


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _error(str(exc), 400)


def make_app(registry: dict[str, Published]) -> Starlette:
    app = Starlette(
        routes=[
            Route("/api/tags", tags),
            Route("/api/ps", ps),
            Route("/api/show", show, methods=["POST"]),
            Route("/api/pull", pull, methods=["POST"]),
            Route("/api/generate", generate, methods=["POST"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ],
        exception_handlers={BadRequest: _bad_request},
    )
    app.state.fake = State({ollama_name(k): v for k, v in registry.items()})
    return app
