"""A local HTTP server speaking the parts of Stripe's API that billing uses, for tests: the one
fake allowed, at the true outside edge. It decodes the form bodies the ``stripe`` library sends
(``a[b][0][c]=…``), answers in Stripe's shapes (which the library parses into its own objects),
keeps what it received (tests parse it back with the library's classes), honours idempotency
keys and meter-event identifiers as Stripe does, and signs the webhooks it sends exactly as
Stripe signs them: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding back to nested dicts and lists."""
    root: dict[str, Any] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", name)
        node: Any = root
        for part, following in itertools.pairwise(parts):
            container: Any = [] if following.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                node[index] = node[index] if node[index] is not None else container
                node = node[index]
            else:
                node = node.setdefault(part, container)
        last = parts[-1]
        if isinstance(node, list):
            index = int(last)
            while len(node) <= index:
                node.append(None)
            node[index] = value
        else:
            node[last] = value
    return root


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends with ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


@dataclass
class Received:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeStripe:
    webhook_secret: str
    received: list[Received] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    meter_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self.counter):06d}"

    def handle(self, method: str, path: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        with self.lock:
            self.received.append(Received(method, path, params, headers))
            key = headers.get("idempotency-key")
            if method == "POST" and key and key in self.idempotent:
                return 200, self.idempotent[key]
            status, body = self._route(method, path, params)
            if method == "POST" and key and status == 200:
                self.idempotent[key] = body
            return status, body

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        now = int(time.time())
        if (method, path) == ("POST", "/v1/customers"):
            customer = {"id": self.new_id("cus"), "object": "customer", "created": now, **params}
            self.customers[customer["id"]] = customer
            return 200, customer
        if (method, path) == ("POST", "/v1/checkout/sessions"):
            items = params.get("line_items") or []
            amount = sum(int(i.get("price_data", {}).get("unit_amount", 0)) * int(i.get("quantity", 1)) for i in items)
            session_id = self.new_id("cs")
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "customer": params.get("customer"),
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata") or {},
                "amount_total": amount,
                "currency": "usd",
                "payment_status": "unpaid",
                "status": "open",
                "url": f"https://checkout.stripe.test/pay/{session_id}",
                "created": now,
            }
            self.sessions[session_id] = session
            return 200, session
        if (method, path) == ("POST", "/v1/billing/meter_events"):
            identifier = params.get("identifier") or self.new_id("mev")
            if identifier in self.meter_events:
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_already_exists",
                        "message": f"An event with identifier {identifier} already exists.",
                    }
                }
            event = {"object": "billing.meter_event", "created": now, "livemode": False, **params}
            event["identifier"] = identifier
            event["timestamp"] = int(params.get("timestamp") or now)  # an integer in Stripe's answers
            self.meter_events[identifier] = event
            return 200, event
        if (method, path) == ("GET", "/v1/invoices"):
            mine = [i for i in self.invoices if i["customer"] == params.get("customer")]
            return 200, {"object": "list", "url": "/v1/invoices", "has_more": False, "data": mine}
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})."}}

    # --- webhooks ----------------------------------------------------------------------------
    def event(self, type_: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
        return {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()) if created is None else created,
            "type": type_,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": obj},
        }

    def complete(self, session_id: str) -> dict[str, Any]:
        """The customer paid: the session's checkout.session.completed event."""
        with self.lock:
            session = self.sessions[session_id]
            session.update(payment_status="paid", status="complete")
            return self.event("checkout.session.completed", dict(session))

    def deliver(
        self, url: str, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> httpx.Response:
        payload = json.dumps(event)
        header = sign(payload, secret or self.webhook_secret, timestamp)
        return httpx.post(
            url, content=payload, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
        )


def start(webhook_secret: str, port: int = 0) -> FakeStripe:
    fake = FakeStripe(webhook_secret)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else url.query
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = fake.handle(self.command, url.path, decode_form(raw), headers)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{fake.new_id('r')}")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    fake.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    return fake
