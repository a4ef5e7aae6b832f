"""Django settings: everything from the environment, with dev defaults (see .env.example)."""

from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

from llmaas.env import envbool, envbroker, envint, envlist, envnetworks, envsecret, envstr, is_production
from llmaas.scopes import SCOPES as OAUTH_SCOPES
from llmaas.signing_keys import load_signing_keys

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = envsecret("DJANGO_SECRET_KEY", "dev-insecure-secret-key-do-not-use-in-production")
DEBUG = envbool("DJANGO_DEBUG", default=not is_production())
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")
# nginx is the one public origin and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", default=is_production())
# HTTPS only in production: plain-HTTP requests are redirected, except the internal ones that
# never cross the edge (probes of /api/health, the shipper's usage webhook on the internal port).
SECURE_SSL_REDIRECT = envbool("DJANGO_SSL_REDIRECT", default=is_production())
SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^api/webhooks/"]
SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", 31_536_000 if is_production() else 0)
# Subdomains and the browsers' preload list too (check --deploy asks for both); an operator whose
# domain still serves HTTP subdomains turns these off, knowingly.
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=is_production())
SECURE_HSTS_PRELOAD = envbool("DJANGO_HSTS_PRELOAD", default=is_production())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",  # /metrics (internal): requests, latencies, statuses by view
    "django.contrib.postgres",  # ArrayField, pattern-ops expression indexes
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "accounts",
    "audit",
    "keys",
    "usage",
    "webhooks",
    "inference",
    "oauth",
    "billing",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first: times the whole request
    "django.middleware.security.SecurityMiddleware",
    "llmaas.request_meta.RequestMetaMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",  # last: sees the view and status
]

ROOT_URLCONF = "llmaas.urls"
WSGI_APPLICATION = "llmaas.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"LLMAAS_DATABASE_URL must be a postgres:// URL, got scheme {parts.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/") or "llmaas",
        "USER": unquote(parts.username or "postgres"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
        "CONN_MAX_AGE": envint("LLMAAS_DB_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": envstr("LLMAAS_TEST_DATABASE_NAME") or None},
    }


DATABASE_URL = envstr("LLMAAS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmaas")
DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Tests only: a fast (insecure) hasher, so that creating personas costs milliseconds, not seconds.
if envbool("LLMAAS_TEST_FAST_PASSWORD_HASHER") and not is_production():
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The operator's time zone: deployments' availability windows (inference AvailabilityWindow) are
# read in it, e.g. Europe/Paris. Checked at start (an unknown zone refuses to start).
LLMAAS_SCHEDULE_TIME_ZONE = envstr("LLMAAS_SCHEDULE_TIME_ZONE", "UTC")
try:
    ZoneInfo(LLMAAS_SCHEDULE_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"LLMAAS_SCHEDULE_TIME_ZONE={LLMAAS_SCHEDULE_TIME_ZONE!r} is not a time zone") from exc

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("DJANGO_STATIC_ROOT", str(BASE_DIR / ".state" / "static")))

REST_FRAMEWORK = {
    # Bearer first: its challenge (WWW-Authenticate) is the one a 401 carries.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "llmaas.bearer.BearerAuthentication",
        "llmaas.authentication.SessionAuthentication",
    ],
    # ScopePermission first: a token whose user is no longer active is a 401, not IsAuthenticated's 403.
    "DEFAULT_PERMISSION_CLASSES": ["llmaas.bearer.ScopePermission", "rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "llmaas.error_handler.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "llmaas.openapi.AutoSchema",
}

# OpenAPI 3 schema at /api/schema/, docs at /api/docs/ (assets from drf-spectacular-sidecar).
SPECTACULAR_SETTINGS = {
    "TITLE": "LLMaaS control plane API",
    "DESCRIPTION": (
        "Organizations, members, API keys, limits, usage and audit. Session auth with CSRF; the "
        "current organization is the `LLMaaS-Organization` header (an organization id), default the "
        'caller\'s personal one. Every error is `{"error": {"code", "message", "details"}}`. '
        "Inference itself is OpenAI's API under `/v1`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "llmaas.openapi.add_org_header"],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "ENUM_NAME_OVERRIDES": {
        "BudgetPeriodEnum": "llmaas.limits.BudgetPeriod",
        "BudgetScopeEnum": ["key", "org"],
        "RoleEnum": "accounts.models.ROLE_CHOICES",
        "AuditActionEnum": "audit.models.AuditAction",
    },
}

# Redis: the data plane's source of keys and catalog. The prefix isolates stacks that share
# one server (tests use their own).
REDIS_URL = envstr("LLMAAS_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = envstr("LLMAAS_REDIS_PREFIX", "llmaas")

CELERY_BROKER_URL = envbroker("LLMAAS_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = envbool("LLMAAS_CELERY_EAGER", False)
# How often beat checks that Redis still holds the snapshot (Redis restarted empty → republish).
SNAPSHOT_RECONCILE_SECONDS = envint("LLMAAS_SNAPSHOT_RECONCILE_SECONDS", 5)
LAST_USED_FLUSH_SECONDS = envint("LLMAAS_LAST_USED_FLUSH_SECONDS", 30)
# The portal's playground key (POST /api/keys/playground): how long it works and its lifetime
# budget in USD (a string, read as a Decimal by keys.services.playground_key_issue).
PLAYGROUND_KEY_SECONDS = envint("LLMAAS_PLAYGROUND_KEY_SECONDS", 900)
PLAYGROUND_BUDGET_USD = envstr("LLMAAS_PLAYGROUND_BUDGET_USD", "0.50")
BUDGET_RECONCILE_SECONDS = envint("LLMAAS_BUDGET_RECONCILE_SECONDS", 300)
RESERVATION_PURGE_SECONDS = envint("LLMAAS_RESERVATION_PURGE_SECONDS", 10)
# Fleet health (inference/health.py): beat probes every backend this often; a failing one leaves
# routing until a probe succeeds again.
HEALTH_PROBE_SECONDS = envint("LLMAAS_HEALTH_PROBE_SECONDS", 10)
HEALTH_PROBE_TIMEOUT_SECONDS = envint("LLMAAS_HEALTH_PROBE_TIMEOUT_SECONDS", 2)
# GPU cost (usage/gpu_cost.py): beat allocates backends' busy time to the calls this often, over
# windows closed this long ago (every call overlapping them has ended and been ingested).
GPU_COST_SECONDS = envint("LLMAAS_GPU_COST_SECONDS", 60)
GPU_COST_DELAY_SECONDS = envint("LLMAAS_GPU_COST_DELAY_SECONDS", 1200)
# Usage at scale: rollups, budget alerts, partitions and retention (beat periods in seconds).
ROLLUP_SECONDS = envint("LLMAAS_ROLLUP_SECONDS", 60)
BUDGET_CHECK_SECONDS = envint("LLMAAS_BUDGET_CHECK_SECONDS", 60)
PARTITION_MAINTENANCE_SECONDS = envint("LLMAAS_PARTITION_MAINTENANCE_SECONDS", 3600)
RETENTION_SECONDS = envint("LLMAAS_RETENTION_SECONDS", 3600)
PARTITIONS_AHEAD = envint("LLMAAS_PARTITIONS_AHEAD", 3)  # monthly partitions created ahead of time
LOG_RETENTION_DAYS = envint("LLMAAS_LOG_RETENTION_DAYS", 400)  # the most any organization keeps
CHAT_RETENTION_DAYS = envint("LLMAAS_CHAT_RETENTION_DAYS", 90)
RETENTION_DETACH_ONLY = envbool("LLMAAS_RETENTION_DETACH_ONLY", False)  # keep old partitions, detached
# An export's query is cancelled past this (milliseconds; 0: never), so a slow or stalled reader
# cannot hold a database connection and its snapshot for ever.
EXPORT_STATEMENT_TIMEOUT_MS = envint("LLMAAS_EXPORT_STATEMENT_TIMEOUT_MS", 300_000)
# End-to-end tests only (ignored in production): a directory of pause points (llmaas/testhooks.py).
TEST_HOOKS_DIR = envstr("LLMAAS_TEST_HOOKS_DIR")

# The usage webhook: HMAC secret shared with the shipper, and the largest body accepted.
WEBHOOK_SECRET = envsecret("LLMAAS_WEBHOOK_SECRET", "dev-insecure-webhook-secret")
WEBHOOK_MAX_BYTES = envint("LLMAAS_WEBHOOK_MAX_BYTES", 4 * 1024 * 1024)

# Email (verification, password reset, invitations, budget alerts): SMTP from the environment;
# dev prints messages on the console.
_EMAIL_DEFAULT = "smtp" if is_production() else "console"
EMAIL_BACKEND = envstr("LLMAAS_EMAIL_BACKEND", f"django.core.mail.backends.{_EMAIL_DEFAULT}.EmailBackend")
EMAIL_HOST = envstr("LLMAAS_EMAIL_HOST", "localhost")
EMAIL_PORT = envint("LLMAAS_EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("LLMAAS_EMAIL_USER")
EMAIL_HOST_PASSWORD = envstr("LLMAAS_EMAIL_PASSWORD")
EMAIL_USE_TLS = envbool("LLMAAS_EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("LLMAAS_EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("LLMAAS_EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = envstr("LLMAAS_EMAIL_FROM", "LLMaaS <noreply@llmaas.local>")
# The public origin, for links in emails (verification, invitations, alerts).
PUBLIC_URL = envstr("LLMAAS_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

# Sign-up: addresses at these domains are approved at once; everyone else waits for an
# operator's approval in the admin. Creating keys also needs a verified email (the link proves
# the address, and so the domain) unless REQUIRE_VERIFIED_EMAIL is off.
ALLOWED_DOMAINS = [d.lower().lstrip("@") for d in envlist("LLMAAS_ALLOWED_DOMAINS")]
SIGNUP_ENABLED = envbool("LLMAAS_SIGNUP_ENABLED", True)
REQUIRE_VERIFIED_EMAIL = envbool("LLMAAS_REQUIRE_VERIFIED_EMAIL", True)
EMAIL_VERIFICATION_TTL = envint("LLMAAS_EMAIL_VERIFICATION_TTL", 3 * 86400)  # seconds
PASSWORD_RESET_TTL = envint("LLMAAS_PASSWORD_RESET_TTL", 3600)
INVITATION_TTL = envint("LLMAAS_INVITATION_TTL", 7 * 86400)
# Login throttling (Redis): failures per account and per client IP within a window; then 429
# with Retry-After until the window ends. Sign-up and password-reset mails are limited per IP.
LOGIN_FAILURES_PER_ACCOUNT = envint("LLMAAS_LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_IP = envint("LLMAAS_LOGIN_FAILURES_PER_IP", 20)
LOGIN_ACCOUNT_SLOWDOWN_AFTER = envint("LLMAAS_LOGIN_ACCOUNT_SLOWDOWN_AFTER", 20)  # then one guess per address
LOGIN_FAILURE_WINDOW = envint("LLMAAS_LOGIN_FAILURE_WINDOW", 900)
EMAIL_REQUESTS_PER_IP = envint("LLMAAS_EMAIL_REQUESTS_PER_IP", 10)  # sign-ups, resets, resends per hour
EMAIL_REQUESTS_PER_ADDRESS = envint("LLMAAS_EMAIL_REQUESTS_PER_ADDRESS", 3)  # mails to one address per hour
# Proxies whose X-Real-IP / X-Forwarded-For are believed (nginx on this host by default).
TRUSTED_PROXIES = envnetworks("LLMAAS_TRUSTED_PROXIES", "127.0.0.1/32,::1/128")

# --- OAuth2 / OpenID Connect provider (django-oauth-toolkit, under /o/) ------------------------
# The issuer is the public origin: discovery at /.well-known/openid-configuration.
OIDC_ISSUER = PUBLIC_URL
OIDC_SIGNING_KEYS = load_signing_keys(Path(envstr("LLMAAS_STATE_DIR", str(BASE_DIR / ".state"))))
OAUTH_ACCESS_TOKEN_SECONDS = envint("LLMAAS_OAUTH_ACCESS_TOKEN_SECONDS", 600)
if not 30 <= OAUTH_ACCESS_TOKEN_SECONDS <= 900:
    raise ImproperlyConfigured(
        "LLMAAS_OAUTH_ACCESS_TOKEN_SECONDS must be between 30 and 900 (access tokens are short-lived)"
    )
OAUTH_REFRESH_TOKEN_SECONDS = envint("LLMAAS_OAUTH_REFRESH_TOKEN_SECONDS", 30 * 86400)
OAUTH_EXPIRE_SECONDS = envint("LLMAAS_OAUTH_EXPIRE_SECONDS", 3600)  # beat: expired grants and tokens leave
LOGIN_URL = "/o/login"
LOGIN_REDIRECT_URL = envstr("LLMAAS_LOGIN_REDIRECT_URL", "/")
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": OIDC_ISSUER,
    "OIDC_RSA_PRIVATE_KEY": OIDC_SIGNING_KEYS.active_pem,
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": list(OIDC_SIGNING_KEYS.previous_pems),
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,  # with a valid id_token_hint, log out at once
    # Strict: a public client's post-logout redirect must be https (so in production only: dev is http).
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": is_production(),
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],  # no implicit, no hybrid: tokens only from /o/token/
    "SCOPES": OAUTH_SCOPES,
    "DEFAULT_SCOPES": ["openid"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_SECONDS,
    "ID_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_SECONDS,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "REFRESH_TOKEN_EXPIRE_SECONDS": OAUTH_REFRESH_TOKEN_SECONDS,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # a rotated refresh token used again revokes its whole family
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "PKCE_REQUIRED": True,
    "REQUEST_APPROVAL_PROMPT": "force",  # third-party apps always ask; first-party ones skip (skip_authorization)
    "ERROR_RESPONSE_WITH_SCOPES": True,
    "ACCESS_TOKEN_GENERATOR": "oauth.tokens.access_token_generator",
    "OAUTH2_VALIDATOR_CLASS": "oauth.validator.LLMaaSValidator",
    "ALLOWED_REDIRECT_URI_SCHEMES": envlist(
        "LLMAAS_OAUTH_REDIRECT_SCHEMES", "https" if is_production() else "http,https"
    ),
    # RFC 9700 (OAuth 2.0 Security Best Current Practice): no implicit or password grant, S256
    # only, tokens never in URLs, "iss" in authorization responses, tokens stored as checksums.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": is_production(),
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
# DOT's own models, not swapped (named so that migrations can point at them).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
# The portal: a public client (PKCE) created by the stack's first start.
PORTAL_CLIENT_ID = envstr("LLMAAS_PORTAL_CLIENT_ID", "llmaas-portal")
# More origins the portal may run on (its callback and landing page there are registered too).
PORTAL_EXTRA_ORIGINS = envlist("LLMAAS_PORTAL_EXTRA_ORIGINS")
# Enterprise SSO: log in through an upstream OpenID provider (oauth/sso.py); no issuer, no SSO.
SSO_ISSUER = envstr("LLMAAS_SSO_ISSUER").rstrip("/")
SSO_CLIENT_ID = envstr("LLMAAS_SSO_CLIENT_ID")
SSO_CLIENT_SECRET = envstr("LLMAAS_SSO_CLIENT_SECRET")
SSO_SCOPES = envstr("LLMAAS_SSO_SCOPES", "openid email profile")
SSO_GROUPS_CLAIM = envstr("LLMAAS_SSO_GROUPS_CLAIM", "groups")
SSO_TRUSTED = envbool("LLMAAS_SSO_TRUSTED", False)  # its users are approved, their addresses verified
SSO_NAME = envstr("LLMAAS_SSO_NAME", "SSO")
if SSO_ISSUER and not (SSO_CLIENT_ID and SSO_CLIENT_SECRET):
    raise ImproperlyConfigured("LLMAAS_SSO_ISSUER is set: set LLMAAS_SSO_CLIENT_ID and LLMAAS_SSO_CLIENT_SECRET too")
if SSO_ISSUER and "openid" not in SSO_SCOPES.split():
    raise ImproperlyConfigured("LLMAAS_SSO_SCOPES must include openid")

# Where upstream backends are reached for the default local model (bootstrap only).
LOCAL_MODEL_URL = envstr("LLMAAS_LOCAL_MODEL_URL", "http://127.0.0.1:8081/v1")

# Logs: JSON lines (LLMAAS_LOG_FORMAT=json, the default) or text, each with the request id
# (llmaas/logging_json.py; README "Logs and request ids").
LOG_FORMAT = envstr("LLMAAS_LOG_FORMAT", "json").lower()
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LLMAAS_LOG_FORMAT must be json or text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "llmaas.logging_json.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "inference.proxy.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": envstr("LLMAAS_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Named, so that Django's default handlers (its plain-text console under DEBUG) are removed:
        # their records reach the root's handler, as JSON with the request id.
        "django": {"level": "INFO"},
        "django.server": {"level": "INFO", "propagate": True},
    },
}

# Billing (billing/): Stripe through its library; without STRIPE_API_KEY nothing reaches Stripe
# (Checkout and meter export answer 503 / skip). STRIPE_API_BASE points the library elsewhere
# (tests: a local server speaking Stripe's API). Production refuses to start without the
# webhook signing secret: an unsigned /api/webhooks/stripe could credit anyone.
STRIPE_API_KEY = envstr("STRIPE_API_KEY")
STRIPE_API_BASE = envstr("STRIPE_API_BASE")
STRIPE_WEBHOOK_SECRET = envsecret("STRIPE_WEBHOOK_SECRET", "whsec_dev_insecure_stripe_webhook_secret")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = envint("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
STRIPE_METER_EVENT_NAME = envstr("STRIPE_METER_EVENT_NAME", "llmaas_usage")
STRIPE_METERED_PRICE_ID = envstr("STRIPE_METERED_PRICE_ID")
BILLING_FREE_BUDGET_USD = envstr("LLMAAS_BILLING_FREE_BUDGET_USD", "5")
BILLING_TOPUP_MIN_USD = envstr("LLMAAS_BILLING_TOPUP_MIN_USD", "5")
BILLING_TOPUP_MAX_USD = envstr("LLMAAS_BILLING_TOPUP_MAX_USD", "10000")
BILLING_RETURN_URL = envstr("LLMAAS_BILLING_RETURN_URL", f"{PUBLIC_URL}/settings/billing")
LEDGER_POST_SECONDS = envint("LLMAAS_LEDGER_POST_SECONDS", 60)
STRIPE_EXPORT_SECONDS = envint("LLMAAS_STRIPE_EXPORT_SECONDS", 3600)
