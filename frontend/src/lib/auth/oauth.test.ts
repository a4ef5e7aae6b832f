import { http, HttpResponse } from "msw";
import { describe, expect, it, vi } from "vitest";
import { api } from "@/lib/api-client";
import { ApiError } from "@/lib/errors";
import { server } from "@/testing/server";
import { browser } from "./browser";
import { authorizePath, completeLogin, jwtClaims, refreshTokens, startSignup } from "./oauth";
import { challengeFor } from "./pkce";
import { getTokens, useAuthStore } from "./store";

const FLOW_KEY = "llmaas.oauth.flow";

function storedFlow() {
  return JSON.parse(sessionStorage.getItem(FLOW_KEY) ?? "null") as { state: string; verifier: string; nonce: string; returnTo: string };
}

function idToken(claims: Record<string, unknown>): string {
  const encode = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${encode({ alg: "RS256" })}.${encode(claims)}.signature`;
}

function signIn(refreshToken = "refresh-1") {
  useAuthStore.getState().setTokens({ accessToken: "access-1", refreshToken, idToken: null, expiresAt: Date.now() + 600_000 });
}

describe("the authorization request", () => {
  it("uses PKCE S256 with a fresh state and nonce, and keeps the verifier for the round trip only", async () => {
    const path = await authorizePath("/keys");
    const url = new URL(path, window.location.origin);
    const flow = storedFlow();

    expect(url.pathname).toBe("/o/authorize/");
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: "code",
      client_id: "llmaas-portal",
      redirect_uri: `${window.location.origin}/auth/callback`,
      code_challenge_method: "S256",
      state: flow.state,
      nonce: flow.nonce,
    });
    expect(url.searchParams.get("scope")).toContain("keys:write");
    expect(flow.verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(url.searchParams.get("code_challenge")).toBe(await challengeFor(flow.verifier));
    expect(url.searchParams.get("code_challenge")).not.toBe(flow.verifier);
    expect(url.toString()).not.toContain(flow.verifier);
    expect(localStorage.length).toBe(0);

    await authorizePath("/keys");
    expect(storedFlow().state).not.toBe(flow.state);
  });

  it("computes the RFC 7636 challenge", async () => {
    // Appendix B of RFC 7636.
    expect(await challengeFor("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });

  it("sends sign-up through /o/signup, which continues with the same authorization request", async () => {
    const assign = vi.spyOn(browser, "assign").mockImplementation(() => undefined);
    await startSignup("/keys");
    const url = new URL(assign.mock.calls[0]![0], window.location.origin);
    expect(url.pathname).toBe("/o/signup");
    const next = url.searchParams.get("next")!;
    expect(next.startsWith("/o/authorize/?")).toBe(true);
    expect(new URL(next, window.location.origin).searchParams.get("state")).toBe(storedFlow().state);
  });
});

describe("the callback", () => {
  it("refuses an answer whose state it did not send, without asking for tokens", async () => {
    const token = vi.fn(() => HttpResponse.json({}));
    server.use(http.post("/o/token/", token));
    await authorizePath("/keys");

    await expect(completeLogin("?code=abc&state=forged")).rejects.toMatchObject({ code: "state_mismatch" });
    expect(token).not.toHaveBeenCalled();
    expect(getTokens()).toBeNull();
    expect(sessionStorage.getItem(FLOW_KEY)).toBeNull(); // one use
  });

  it("exchanges the code with the verifier (form-encoded) and keeps the tokens in memory", async () => {
    await authorizePath("/keys?tab=1");
    const flow = storedFlow();
    let form: URLSearchParams | null = null;
    let contentType = "";
    server.use(
      http.post("/o/token/", async ({ request }) => {
        contentType = request.headers.get("content-type") ?? "";
        form = new URLSearchParams(await request.text());
        return HttpResponse.json({
          access_token: "access-new",
          refresh_token: "refresh-new",
          id_token: idToken({ nonce: flow.nonce, sub: "u1" }),
          expires_in: 600,
          token_type: "Bearer",
        });
      }),
    );

    const returnTo = await completeLogin(`?code=the-code&state=${flow.state}`);

    expect(returnTo).toBe("/keys?tab=1");
    expect(contentType).toContain("application/x-www-form-urlencoded");
    expect(Object.fromEntries(form!)).toEqual({
      grant_type: "authorization_code",
      code: "the-code",
      redirect_uri: `${window.location.origin}/auth/callback`,
      client_id: "llmaas-portal",
      code_verifier: flow.verifier,
    });
    expect(getTokens()).toMatchObject({ accessToken: "access-new", refreshToken: "refresh-new" });
    expect(jwtClaims(getTokens()!.idToken!).sub).toBe("u1");
    expect(JSON.stringify({ ...sessionStorage, ...localStorage })).not.toContain("access-new");
  });

  it("refuses an ID token issued for another request (nonce)", async () => {
    await authorizePath("/keys");
    const flow = storedFlow();
    server.use(
      http.post("/o/token/", () =>
        HttpResponse.json({ access_token: "a", refresh_token: "r", id_token: idToken({ nonce: "other" }), expires_in: 600, token_type: "Bearer" }),
      ),
    );
    await expect(completeLogin(`?code=c2&state=${flow.state}`)).rejects.toMatchObject({ code: "nonce_mismatch" });
    expect(getTokens()).toBeNull();
  });

  it("explains a refusal from the authorization server in words", async () => {
    await authorizePath("/keys");
    await expect(completeLogin("?error=access_denied&error_description=The+user+said+no")).rejects.toThrow("The user said no");
  });
});

describe("refresh", () => {
  it("is single-flight: concurrent callers share one token request", async () => {
    signIn();
    const token = vi.fn(async ({ request }: { request: Request }) => {
      const form = new URLSearchParams(await request.text());
      expect(form.get("grant_type")).toBe("refresh_token");
      expect(form.get("refresh_token")).toBe("refresh-1");
      expect(form.get("client_id")).toBe("llmaas-portal");
      await new Promise((resolve) => setTimeout(resolve, 20));
      return HttpResponse.json({ access_token: "access-2", refresh_token: "refresh-2", expires_in: 600, token_type: "Bearer" });
    });
    server.use(http.post("/o/token/", token));

    const results = await Promise.all([refreshTokens(), refreshTokens(), refreshTokens()]);

    expect(token).toHaveBeenCalledTimes(1);
    expect(results.map((t) => t.accessToken)).toEqual(["access-2", "access-2", "access-2"]);
    expect(getTokens()?.refreshToken).toBe("refresh-2");
  });

  it("forgets the tokens when the refresh is refused (the family may be revoked)", async () => {
    signIn();
    server.use(http.post("/o/token/", () => HttpResponse.json({ error: "invalid_grant", error_description: "Token revoked." }, { status: 400 })));
    await expect(refreshTokens()).rejects.toBeInstanceOf(ApiError);
    expect(getTokens()).toBeNull();
  });
});

describe("the API client", () => {
  it("refreshes once on a 401 and retries the call with the new token", async () => {
    signIn();
    const seen: string[] = [];
    const token = vi.fn(() => HttpResponse.json({ access_token: "access-2", refresh_token: "refresh-2", expires_in: 600, token_type: "Bearer" }));
    server.use(
      http.post("/o/token/", token),
      http.get("/api/keys/", ({ request }) => {
        const auth = request.headers.get("authorization") ?? "";
        seen.push(auth);
        return auth === "Bearer access-2"
          ? HttpResponse.json({ next: null, previous: null, results: [] })
          : HttpResponse.json({ error: { code: "invalid_token", message: "The access token expired.", details: {} } }, { status: 401 });
      }),
    );

    const [a, b] = await Promise.all([api.get("/api/keys/"), api.get("/api/keys/")]);

    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(token).toHaveBeenCalledTimes(1);
    expect(seen.filter((s) => s === "Bearer access-1")).toHaveLength(2);
    expect(seen.filter((s) => s === "Bearer access-2")).toHaveLength(2);
  });

  it("does not loop: a second 401 after the refresh is the caller's error, in words", async () => {
    signIn();
    const keys = vi.fn(() => HttpResponse.json({ error: { code: "invalid_token", message: "The access token was revoked.", details: {} } }, { status: 401 }));
    server.use(
      http.post("/o/token/", () => HttpResponse.json({ access_token: "access-2", refresh_token: "refresh-2", expires_in: 600, token_type: "Bearer" })),
      http.get("/api/keys/", keys),
    );
    await expect(api.get("/api/keys/")).rejects.toMatchObject({ status: 401, code: "invalid_token", message: "The access token was revoked." });
    expect(keys).toHaveBeenCalledTimes(2);
  });

  it("sends the current organization", async () => {
    signIn();
    const { useOrganizationStore } = await import("@/stores/organization");
    useOrganizationStore.getState().setActiveOrganization("org-42");
    let header: string | null = null;
    server.use(
      http.get("/api/auth/me", ({ request }) => {
        header = request.headers.get("llmaas-organization");
        return HttpResponse.json({});
      }),
    );
    await api.get("/api/auth/me");
    expect(header).toBe("org-42");
    useOrganizationStore.getState().setActiveOrganization(null);
  });
});
