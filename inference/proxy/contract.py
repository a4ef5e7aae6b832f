"""The Redis contract between Django (control plane) and the LiteLLM hooks (data plane).

Both sides import this module; it imports neither Django nor LiteLLM. Django publishes key
snapshots and the model catalog here on commit; the proxy's hooks only read them.

Layout, under a prefix (``LLMAAS_REDIS_PREFIX``, default ``llmaas``) so that stacks can share
one Redis server:

- ``{p}:epoch``            set last by a full publish; absent → the snapshot is not loaded
                           (a Redis restarted empty) and the proxy answers 503, never 401.
- ``{p}:key:{sha256}``     one JSON `KeySnapshot` per active key, keyed by the secret's hash.
- ``{p}:catalog``          the JSON `Catalog` of public models.
- ``{p}:events``           pub/sub channel of `Event`s that invalidate per-worker caches.
- ``{p}:usage``            stream of `UsageRecord`s (written by the usage hook).
- ``{p}:usage:dead``       stream of records the webhook rejected: fields r (the record), reason,
                           error, at (unix seconds); ``{p}:usage:dead:counts`` counts them by reason.
- ``{p}:last_used``        hash key_id → unix time of the last authenticated call.
- ``{p}:{o<org>}:…``       an organization's admission state (budgets, rate windows, calls in
                           flight, prepaid wallet, reservations): one hash slot per organization.
- ``{p}:{m<model>}:dep:…`` a model's deployments' calls in flight: one hash slot per model.
- ``{p}:fleet:wanted``     hash deployment id → unix time: on-demand starts asked by the proxy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SNAPSHOT_VERSION = 1
SECRET_PREFIX = "sk-"  # noqa: S105 - a format marker, not a secret
# sk- + 48 url-safe characters (288 random bits); anything far off that shape is malformed.
SECRET_MIN_LENGTH = 20
SECRET_MAX_LENGTH = 200


class ContractError(ValueError):
    """A value in Redis does not follow this contract (e.g. a newer snapshot version)."""


def hash_secret(secret: str) -> str:
    """The only form in which a key's secret is stored anywhere: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "llmaas"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"

    @property
    def catalog(self) -> str:
        return f"{self.prefix}:catalog"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def usage_stream(self) -> str:
        return f"{self.prefix}:usage"

    @property
    def usage_dead(self) -> str:
        """Dead letters: records the webhook could not store, with their reason (see shipper.py)."""
        return f"{self.prefix}:usage:dead"

    @property
    def usage_dead_counts(self) -> str:
        """Hash reason → how many records were ever dead-lettered for it (a counter: never lowered)."""
        return f"{self.prefix}:usage:dead:counts"

    @property
    def last_used(self) -> str:
        return f"{self.prefix}:last_used"

    def key(self, key_hash: str) -> str:
        return f"{self.prefix}:key:{key_hash}"

    @property
    def key_pattern(self) -> str:
        return f"{self.prefix}:key:*"

    # Admission state (see admission_lua.py). Each admission script's keys share one hash slot on
    # a Redis Cluster: an organization's (its keys' and its own counters, its wallet, its
    # reservations) carry the hash tag {o<org id>}; the in-flight slots of a model's deployments
    # carry {m<model>}, so that the least busy of them is chosen in one script.
    def org_tag(self, org_id: str) -> str:
        return f"{self.prefix}:{{o{org_id}}}"

    def model_tag(self, model: str) -> str:
        return f"{self.prefix}:{{m{model}}}"

    def reservations(self, org_id: str) -> str:
        """Z: the organization's open reservations (id → expiry, ms)."""
        return f"{self.org_tag(org_id)}:resv"

    def reservation_data(self, org_id: str) -> str:
        """D: what each of the organization's open reservations holds."""
        return f"{self.org_tag(org_id)}:resv:data"

    @property
    def reservations_pattern(self) -> str:
        """Every organization's Z, as a SCAN pattern (``{`` is not special in one)."""
        return f"{self.prefix}:{{o*}}:resv"

    def settled(self, org_id: str, reservation_id: str) -> str:
        return f"{self.org_tag(org_id)}:settled:{reservation_id}"

    def budget(self, org_id: str, scope: str, scope_id: str, period_id: str) -> str:
        return f"{self.org_tag(org_id)}:b:{scope}:{scope_id}:{period_id}"

    def requests_window(self, org_id: str, scope: str, scope_id: str) -> str:
        return f"{self.org_tag(org_id)}:r:{scope}:{scope_id}"

    def tokens_window(self, org_id: str, scope: str, scope_id: str) -> str:
        return f"{self.org_tag(org_id)}:t:{scope}:{scope_id}"

    def in_flight(self, org_id: str, scope: str, scope_id: str) -> str:
        return f"{self.org_tag(org_id)}:p:{scope}:{scope_id}"

    def deployment_slots(self, model: str, deployment_id: str) -> str:
        """A deployment's calls in flight: a sorted set reservation id → expiry (ms), so that a
        slot held by a crashed worker frees itself; shared by every organization, hence its own tag."""
        return f"{self.model_tag(model)}:dep:{deployment_id}"

    @property
    def fleet_wanted(self) -> str:
        """Hash deployment id → unix time a proxy worker asked for its process (the fleet agent
        takes the ones it manages)."""
        return f"{self.prefix}:fleet:wanted"

    def wallet(self, org_id: str) -> str:
        """An organization's prepaid wallet (admission_lua.py): present only on the prepaid plan."""
        return f"{self.org_tag(org_id)}:w"


def _check_version(data: dict[str, Any], what: str) -> None:
    version = data.get("v")
    if version != SNAPSHOT_VERSION:
        raise ContractError(f"{what} has version {version!r}; this code reads version {SNAPSHOT_VERSION}")


NANO_PER_USD = 10**9  # budgets and spend travel in Redis as integer nano-dollars

PERIOD_DAILY, PERIOD_MONTHLY, PERIOD_LIFETIME = "daily", "monthly", "lifetime"


def budget_period(period: str, tz: str, now: datetime) -> tuple[str, datetime | None, datetime | None]:
    """(period id, start, end) of the budget period containing ``now``, in the org's time zone."""
    local = now.astimezone(ZoneInfo(tz))
    if period == PERIOD_DAILY:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=1, hours=2)).replace(hour=0)  # DST-safe next midnight
        return start.strftime("d%Y%m%d"), start, end
    if period == PERIOD_MONTHLY:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        return start.strftime("m%Y%m"), start, end
    return "all", None, None


@dataclass(frozen=True)
class ScopeLimits:
    """One scope's limits (a key, its organization). None: unlimited."""

    scope: str  # "key" | "org"
    id: str
    budget_nano: int | None = None
    budget_period: str = PERIOD_MONTHLY
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None


@dataclass(frozen=True)
class KeySnapshot:
    """What the proxy needs to admit a key. ``models`` empty means every catalog model."""

    key_id: str
    org_id: str
    user_id: str
    models: tuple[str, ...] = ()
    expires_at: float | None = None  # unix seconds, UTC
    store_chats: bool = False  # the key opted in to chat history
    scopes: tuple[ScopeLimits, ...] = ()  # the key's, then its organization's
    timezone: str = "UTC"  # the organization's: budget periods reset at its midnight
    v: int = SNAPSHOT_VERSION

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["models"] = list(self.models)
        data["scopes"] = [dataclasses.asdict(s) for s in self.scopes]
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> KeySnapshot:
        data = json.loads(raw)
        _check_version(data, "key snapshot")
        return cls(
            key_id=data["key_id"],
            org_id=data["org_id"],
            user_id=data["user_id"],
            models=tuple(data.get("models") or ()),
            expires_at=data.get("expires_at"),
            store_chats=bool(data.get("store_chats", False)),
            scopes=tuple(ScopeLimits(**s) for s in data.get("scopes") or ()),
            timezone=data.get("timezone") or "UTC",
        )

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


# A managed backend's process (Backend.run_state; the fleet agent's, lifecycle/agent.py).
RUN_STOPPED, RUN_STARTING, RUN_RUNNING = "stopped", "starting", "running"
RUN_STOPPING, RUN_FAILED = "stopping", "failed"

MODE_CHAT = "chat"
MODE_EMBEDDING = "embedding"
MODES = (MODE_CHAT, MODE_EMBEDDING)
PROFILE_THROUGHPUT = "throughput"
PROFILE_LONG_CONTEXT = "long_context"
PROFILES = (PROFILE_THROUGHPUT, PROFILE_LONG_CONTEXT)


@dataclass(frozen=True)
class CatalogDeployment:
    """One routable deployment of a public model: an enabled ModelDeployment whose backend is
    not known to be down. Its ``id`` is the deployment's name, LiteLLM's ``model_info.id`` and the
    name of its own model group in each worker's router (deployments.py), and what
    ``request_logs.deployment_id`` records."""

    id: str
    upstream_model: str
    backend_url: str
    context_window: int
    input_price_per_mtok: str
    output_price_per_mtok: str
    upstream_key_env: str = ""
    profile: str = PROFILE_THROUGHPUT
    max_concurrency: int | None = None  # None: unlimited
    queue_timeout_s: float = 0.0  # at capacity: wait this long for a slot (0: refuse at once)
    # Lifecycle (proxy/lifecycle.py): an on-demand deployment's process is started by the fleet
    # agent when a call finds it not running, and the call waits up to start_timeout_s for it.
    on_demand: bool = False
    run_state: str = RUN_RUNNING
    start_timeout_s: float = 0.0
    # After failed starts the agent does not try again before this time (unix s): a call that
    # finds the deployment failed is refused at once with a Retry-After, without asking for a start.
    start_retry_at: float | None = None
    # Availability in time (proxy/schedule.py): windows as [days, start minute, end minute] in
    # schedule_tz; an override ("available"/"unavailable") holds until override_until (unix s; None: until cleared).
    windows: tuple[Any, ...] = ()
    schedule_tz: str = "UTC"
    override: str = ""
    override_until: float | None = None
    # The backend's kind (llamacpp, ollama, vllm, sglang, openai-compatible): how the proxy reads
    # its own load for busy-aware routing (backend_load.py).
    backend_kind: str = ""

    def __post_init__(self) -> None:
        # JSON gives lists: keep the instance hashable and comparable with the published one.
        windows = tuple((tuple(days), start, end) for days, start, end in self.windows)
        object.__setattr__(self, "windows", windows)


@dataclass(frozen=True)
class CatalogModel:
    """A public model. The top-level fields describe the model as admission sees it (the largest
    window and the dearest prices of its deployments, so a reservation never undershoots);
    ``deployments`` are where it may be routed now (empty: known but unavailable, a 503)."""

    name: str
    upstream_model: str
    context_window: int
    # Decimal strings, USD per million tokens: money never travels as float.
    input_price_per_mtok: str
    output_price_per_mtok: str
    max_output_tokens: int = 1024
    # Where the proxy routes it, so that a model added or changed in Django reaches every
    # worker's router without a restart (router_sync.py); the key is named, never carried.
    # (The first deployment's, for readers that predate ``deployments``.)
    backend_url: str = ""
    upstream_key_env: str = ""
    mode: str = MODE_CHAT  # "chat" | "embedding": which routes may use it
    deployments: tuple[CatalogDeployment, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["deployments"] = [dataclasses.asdict(d) for d in self.deployments]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CatalogModel:
        fields = dict(data)
        fields["deployments"] = tuple(CatalogDeployment(**d) for d in fields.get("deployments") or ())
        return cls(**fields)


@dataclass(frozen=True)
class Catalog:
    models: tuple[CatalogModel, ...] = ()
    # alias → public model name: another name clients may call a model by.
    aliases: tuple[tuple[str, str], ...] = ()
    v: int = SNAPSHOT_VERSION

    def to_json(self) -> str:
        return json.dumps(
            {"v": self.v, "models": [m.to_dict() for m in self.models], "aliases": dict(self.aliases)},
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Catalog:
        data = json.loads(raw)
        _check_version(data, "catalog")
        aliases = tuple(sorted((str(k), str(v)) for k, v in (data.get("aliases") or {}).items()))
        return cls(models=tuple(CatalogModel.from_dict(m) for m in data["models"]), aliases=aliases)

    def names(self) -> set[str]:
        return {m.name for m in self.models}

    def lookup(self) -> dict[str, CatalogModel]:
        """Every name a client may call a model by (its own, its aliases) → the model."""
        by_name = {m.name: m for m in self.models}
        for alias, target in self.aliases:
            if target in by_name and alias not in by_name:
                by_name[alias] = by_name[target]
        return by_name


# Events on {p}:events. "key": drop one cached snapshot; "flush": drop them all (full republish);
# "catalog": the catalog changed.
EVENT_KEY = "key"
EVENT_FLUSH = "flush"
EVENT_CATALOG = "catalog"


def encode_event(kind: str, key_hash: str | None = None) -> str:
    return json.dumps({"type": kind, "hash": key_hash}, separators=(",", ":"))


def decode_event(raw: str | bytes) -> tuple[str, str | None]:
    data = json.loads(raw)
    return str(data.get("type")), data.get("hash")


# Usage records: the usage hook appends one per finished call to {p}:usage; the shipper
# delivers them to the webhook, which stores each once (by call_id) in request_logs.
STATUS_SUCCESS = "success"
STATUS_FAILURE = "failure"  # the backend failed: counted, not billed
STATUS_CANCELLED = "cancelled"  # the client went away mid-stream: billed for what was generated
STATUS_REJECTED = "rejected"  # refused at auth (bad key, model not allowed): counted, not billed
STATUS_RATE_LIMITED = "rate_limited"  # 429 (saturation or limits): counted, not billed
STATUSES = (STATUS_SUCCESS, STATUS_FAILURE, STATUS_CANCELLED, STATUS_REJECTED, STATUS_RATE_LIMITED)
USAGE_FIELD = "r"  # the stream entry's one field, holding the record's JSON
# The columns' bounds (request_logs): a record outside them is refused, so the proxy bounds
# what it writes (see ``clean_text``) and no client value can make a call's record invalid.
CALL_ID_MAX = 100
REQUEST_ID_MAX = 64  # logs.py's bound (and nginx's)
TEXT_MAX = 255
TOKENS_LIMIT = 2**31
MS_MAX = 1e12  # about 30 years: finite, and within float8
CREATED_AT_LIMIT = 253_402_300_800.0  # 10000-01-01: datetime.fromtimestamp's (and PostgreSQL's) range


@dataclass(frozen=True)
class UsageRecord:
    call_id: str
    org_id: str | None  # None when the caller was never identified (auth rejections)
    key_id: str | None
    user_id: str | None
    model: str
    deployment_id: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    ttft_ms: float | None
    status: str
    error_type: str | None
    stream: bool
    end_user: str | None
    created_at: float  # unix seconds, when the call started
    tokens_estimated: bool = False  # LiteLLM counted the tokens itself (no usage from the backend)
    chat: dict[str, Any] | None = None  # {"messages": …, "response": …} for keys that opted in
    # The request id (x-request-id, logs.py) the call came with; records written before it had none.
    request_id: str | None = None
    v: int = SNAPSHOT_VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UsageRecord:
        """Validates types strictly: a record that does not follow the contract raises ContractError.

        The webhook runs this for every call the platform serves, so it fills the instance's
        ``__dict__`` (the frozen dataclass's ``__init__`` costs a ``object.__setattr__`` per field)
        once the keys are known to be exactly the fields, and checks the common case in one
        expression; a record that fails it is checked field by field, to name what is wrong."""
        _check_version(data, "usage record")
        keys = data.keys()
        if not keys <= _USAGE_FIELDS:
            raise ContractError(f"unknown fields {sorted(keys - _USAGE_FIELDS)}")
        if not keys >= _USAGE_REQUIRED:
            raise ContractError(f"missing fields {sorted(_USAGE_REQUIRED - keys)}")
        record = object.__new__(cls)
        fields = record.__dict__
        fields.update(_USAGE_DEFAULTS)
        fields.update(data)
        if not record._valid():
            record._name_the_invalid_field()
        return record

    def _valid(self) -> bool:
        ttft, chat = self.ttft_ms, self.chat
        return (
            type(self.call_id) is str
            and 0 < len(self.call_id) <= CALL_ID_MAX
            and ((self.call_id.isascii() and "\x00" not in self.call_id) or _clean(self.call_id))
            and _optional_text(self.org_id)
            and _optional_text(self.key_id)
            and _optional_text(self.user_id)
            and _optional_text(self.deployment_id)
            and _optional_text(self.error_type)
            and _optional_text(self.end_user)
            and type(self.model) is str
            and len(self.model) <= TEXT_MAX
            and ((self.model.isascii() and "\x00" not in self.model) or _clean(self.model))
            and type(self.prompt_tokens) is int
            and 0 <= self.prompt_tokens < TOKENS_LIMIT
            and type(self.completion_tokens) is int
            and 0 <= self.completion_tokens < TOKENS_LIMIT
            # Chained comparisons are False for NaN, and the upper bounds refuse ±Infinity.
            and type(self.latency_ms) in (int, float)
            and 0 <= self.latency_ms <= MS_MAX
            and (ttft is None or (type(ttft) in (int, float) and 0 <= ttft <= MS_MAX))
            and self.status in STATUSES
            and type(self.stream) is bool
            and type(self.tokens_estimated) is bool
            and type(self.created_at) in (int, float)
            and 0 < self.created_at < CREATED_AT_LIMIT
            and (chat is None or type(chat) is dict)
            and _request_id_ok(self.request_id)
        )

    def _name_the_invalid_field(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ContractError(f"{what} is invalid")

        need(isinstance(self.call_id, str) and 0 < len(self.call_id) <= CALL_ID_MAX and _clean(self.call_id), "call_id")
        for name in ("org_id", "key_id", "user_id", "deployment_id", "error_type", "end_user"):
            value = getattr(self, name)
            need(value is None or (isinstance(value, str) and len(value) <= TEXT_MAX and _clean(value)), name)
        need(isinstance(self.model, str) and len(self.model) <= TEXT_MAX and _clean(self.model), "model")
        for name in ("prompt_tokens", "completion_tokens"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool) and 0 <= value < TOKENS_LIMIT, name)
        need(isinstance(self.latency_ms, int | float) and 0 <= self.latency_ms <= MS_MAX, "latency_ms")
        need(self.ttft_ms is None or (isinstance(self.ttft_ms, int | float) and 0 <= self.ttft_ms <= MS_MAX), "ttft_ms")
        need(self.status in STATUSES, "status")
        need(isinstance(self.stream, bool) and isinstance(self.tokens_estimated, bool), "flags")
        need(isinstance(self.created_at, int | float) and 0 < self.created_at < CREATED_AT_LIMIT, "created_at")
        need(self.chat is None or isinstance(self.chat, dict), "chat")
        need(_request_id_ok(self.request_id), "request_id")
        raise ContractError("the record is invalid")  # pragma: no cover - the checks above name it


def _request_id_ok(value: object) -> bool:
    if value is None:
        return True
    return type(value) is str and 0 < len(value) <= REQUEST_ID_MAX and value.isascii() and _clean(value)


def _clean(text: str) -> bool:
    """PostgreSQL's text holds neither NUL nor a lone surrogate (which UTF-8 cannot encode). An
    ASCII string (the common case; ``isascii`` is O(1)) is checked for NUL only."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional_text(value: object) -> bool:
    # The common case (ASCII without NUL) inline: this runs six times a record on the ingest's path.
    return value is None or (
        type(value) is str and len(value) <= TEXT_MAX and ((value.isascii() and "\x00" not in value) or _clean(value))
    )


_USAGE_FIELDS = frozenset(f.name for f in dataclasses.fields(UsageRecord))
_USAGE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(UsageRecord) if f.default is not dataclasses.MISSING}
_USAGE_REQUIRED = _USAGE_FIELDS - _USAGE_DEFAULTS.keys()


# --- Normalising what the proxy records (clients control much of it) -------------------------
REPLACEMENT = "\ufffd"


def clean_text(value: object, limit: int = TEXT_MAX) -> str:
    """``value`` as text PostgreSQL can store within ``limit`` characters: a non-string becomes
    its JSON text, NUL and lone surrogates become U+FFFD, and the tail past ``limit`` is cut."""
    if not isinstance(value, str):
        value = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    if not _clean(value):
        value = value.replace("\x00", REPLACEMENT)
        # Through UTF-16: a lone surrogate becomes one U+FFFD, a split pair is joined again.
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value[:limit]


def optional_text(value: object, limit: int = TEXT_MAX) -> str | None:
    """``clean_text`` of a value that may be absent (None or empty stays None)."""
    if value is None or value == "":
        return None
    return clean_text(value, limit)


def clean_json(value: Any) -> Any:
    """``value`` with every string (keys too) cleaned as ``clean_text`` does (unbounded), and
    non-finite numbers as null: what jsonb stores. Anything else JSON lacks becomes its text."""
    if isinstance(value, str):
        return value if _clean(value) else clean_text(value, len(value))
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean_json(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return clean_json(str(value))


def finite(value: object, low: float, high: float, default: float = 0.0) -> float:
    """``value`` as a float within [low, high]; ``default`` when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    number = float(value)
    if not math.isfinite(number):
        return default
    return min(max(number, low), high)


def token_count(value: object) -> int:
    """A token count within the column's range (0 for anything that is not a finite number)."""
    return int(finite(value, 0, TOKENS_LIMIT - 1))
