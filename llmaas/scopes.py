"""The OAuth scopes (plain data: settings and every app's views read it)."""

SESSION_ONLY = "session-only"  # a view (or method) that a Bearer token may never call

# The scopes a token may carry (OpenID Connect's, then one per API area).
SCOPES: dict[str, str] = {
    "openid": "Sign you in (OpenID Connect)",
    "profile": "Read your name",
    "email": "Read your email address",
    "keys:read": "List your API keys and their limits",
    "keys:write": "Create, change, rotate and revoke API keys",
    "usage:read": "Read usage, spend, request logs and notifications",
    "chats:read": "Read stored chat histories",
    "org:admin": "Manage your organizations: members, invitations, limits, apps, retention, audit",
    "billing": "Read and manage billing",
    "inference": "Create an inference key (sk-…) for this application, with the models and budget you choose",
}

OPENID = "openid"
PROFILE = "profile"
EMAIL = "email"
KEYS_READ = "keys:read"
KEYS_WRITE = "keys:write"
USAGE_READ = "usage:read"
CHATS_READ = "chats:read"
ORG_ADMIN = "org:admin"
BILLING = "billing"
INFERENCE = "inference"
