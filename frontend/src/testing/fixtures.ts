import { http, HttpResponse } from "msw";
import type { Me } from "@/features/auth/api/get-me";
import type { ApiKey } from "@/features/keys/types";

// Bodies shaped like the real API's serializers (field names copied from the Django code).

export const ORG_ID = "0b7d6a52-0000-4000-8000-0000000000a1";

export function aMe(role = "owner", overrides: Partial<Me> = {}): Me {
  return {
    id: "5f0c5c0e-0000-4000-8000-000000000099",
    email: "alice@example.com",
    name: "Alice",
    status: "active",
    approved: true,
    email_verified: true,
    is_staff: false,
    date_joined: "2026-01-01T00:00:00Z",
    organizations: [{ id: ORG_ID, name: "Acme", role, personal: false }],
    ...overrides,
  };
}

export const meHandler = (me: Me = aMe()) => http.get("/api/auth/me", () => HttpResponse.json(me));

export function aKey(overrides: Partial<ApiKey> = {}): ApiKey {
  return {
    id: "4b0c5c0e-0000-4000-8000-000000000001",
    name: "billing-service",
    prefix: "sk-abc123",
    models: [],
    created_by: "alice@example.com",
    created_at: "2026-01-02T10:00:00Z",
    expires_at: null,
    store_chats: true,
    budget_usd: null,
    budget_period: "monthly",
    rpm: null,
    tpm: null,
    max_parallel: null,
    last_used_at: null,
    rotated_at: null,
    revoked: false,
    revoked_at: null,
    app: null,
    playground: false,
    ...overrides,
  };
}

export const keysHandler = (keys: ApiKey[]) => http.get("/api/keys/", () => HttpResponse.json({ next: null, previous: null, results: keys }));

export const limitsBody = (overrides: Record<string, unknown> = {}) => ({
  id: ORG_ID,
  budget_usd: null,
  budget_period: "monthly",
  rpm: null,
  tpm: null,
  max_parallel: null,
  models: [],
  timezone: "UTC",
  ...overrides,
});

export const limitsHandler = (overrides: Record<string, unknown> = {}) => http.get("/api/organization/limits", () => HttpResponse.json(limitsBody(overrides)));

export const envelope = (status: number, code: string, message: string, details: unknown = {}) =>
  HttpResponse.json({ error: { code, message, details } }, { status });
