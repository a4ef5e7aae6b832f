"""The OAuth scopes (plain data: settings and every app's views read it)."""

SESSION_ONLY = "session-only"  # a view (or method) that a Bearer token may never call

# The scopes a token may carry (OpenID Connect's, then one per API area).
SCOPES: dict[str, str] = {
    "openid": "Sign you in (OpenID Connect)",
    "profile": "Read your name and the organizations you belong to, with your role in each",
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

# Which scope each API area needs (each view's ``required_scopes``; llmaas/tests/test_scopes.py
# fails on a view that declares none). The rules, so a new view can follow them:
#
# - A scope never widens a role: the role check (``OrgContext.require``) applies to tokens too.
# - Reading a setting goes with the data it governs; changing it is ``org:admin``:
#   organization limits GET → ``keys:read`` (they bound every key, and a key's effective
#   limits, keys:read too, already show them), PATCH → ``org:admin``; chat retention GET →
#   ``chats:read``, PATCH (and deleting chats) → ``org:admin``.
# - "Which organizations am I in, with which role" is ``profile``: GET /api/organizations/,
#   GET /api/organization and GET /api/auth/me. The ``groups`` claim of ID tokens releases the
#   same under ``profile`` (oauth/validator.py), and an app needs an organization id for the
#   ``LLMaaS-Organization`` header of every other call. Changing one's own name (PATCH me) is
#   ``profile`` too: it touches nothing but the display name.
# - Other people are ``org:admin``: members (list, read, change, remove), invitations, audit,
#   creating and renaming organizations.
# - Marking one's own notification read is ``usage:read``: it changes only one's read state.
# - SESSION_ONLY, never with a token: the session's own endpoints (login, logout, CSRF,
#   sign-up, email verification, password change and reset), and acts that a third-party app
#   must not do in a user's name even with ``org:admin``: deleting an organization,
#   transferring its ownership, leaving it, and accepting an invitation (which would widen what
#   the app's other scopes reach).
