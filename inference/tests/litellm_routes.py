"""Print every route LiteLLM's proxy app registers, as JSON: [[path, [methods]], …].

Runs inside the LiteLLM virtualenv (`.venv-litellm/bin/python inference/tests/litellm_routes.py`);
the route-exposure test calls it so that a LiteLLM upgrade that adds a route is covered at once.
"""

import json
import sys
from typing import Any


def walk(routes: Any, prefix: str = "") -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI >= 0.16x wraps included routers lazily
            found += walk(original.routes, prefix + route.include_context.prefix)
            continue
        path = getattr(route, "path", None)
        if path is None:
            continue
        sub = getattr(route, "routes", None)
        if sub and type(route).__name__ == "Mount":
            found.append((prefix + path, ["*"]))
            continue
        if "WebSocket" in type(route).__name__:
            found.append((prefix + path, ["WEBSOCKET"]))
            continue
        found.append((prefix + path, sorted(getattr(route, "methods", None) or ["GET"])))
    return found


def main() -> None:
    from litellm.proxy.proxy_server import app

    json.dump(sorted(set((p, tuple(m)) for p, m in walk(app.routes))), sys.stdout)


if __name__ == "__main__":
    main()
