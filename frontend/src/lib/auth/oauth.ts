import axios from "axios";
import { env } from "@/config/env";
import { ApiError, toApiError } from "@/lib/errors";
import { browser } from "./browser";
import { challengeFor, createVerifier, randomToken } from "./pkce";
import { getTokens, useAuthStore, type Tokens } from "./store";

// The portal is a public OAuth client of this instance's own authorization server:
// authorization code + PKCE (S256), tokens in memory, refresh before expiry and on a 401.

const FLOW_KEY = "llmaas.oauth.flow";

/** What one round trip to /o/authorize/ must remember (sessionStorage, removed on return). */
type Flow = { state: string; verifier: string; nonce: string; returnTo: string };

type TokenResponse = {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  id_token?: string;
  token_type: string;
  scope?: string;
};

// The token endpoint gets no Authorization header nor organization: a bare client.
const oauthHttp = axios.create({ baseURL: env.VITE_API_URL || "" });

export function redirectUri(): string {
  return `${window.location.origin}/auth/callback`;
}

/** A local path to come back to after signing in (never another origin). */
export function safeReturnTo(path: string | null | undefined): string {
  return path && path.startsWith("/") && !path.startsWith("//") && !path.startsWith("/auth/") ? path : "/dashboard";
}

/** Starts a flow: stores state, verifier and nonce for the round trip; returns /o/authorize/?… */
export async function authorizePath(returnTo: string): Promise<string> {
  const flow: Flow = { state: randomToken(), verifier: createVerifier(), nonce: randomToken(), returnTo: safeReturnTo(returnTo) };
  sessionStorage.setItem(FLOW_KEY, JSON.stringify(flow));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: env.VITE_OAUTH_CLIENT_ID,
    redirect_uri: redirectUri(),
    scope: env.VITE_OAUTH_SCOPES,
    state: flow.state,
    nonce: flow.nonce,
    code_challenge: await challengeFor(flow.verifier),
    code_challenge_method: "S256",
  });
  return `/o/authorize/?${params.toString()}`;
}

/** Sends the browser to the authorization server (its login page if there is no session). */
export async function startLogin(returnTo = "/dashboard"): Promise<void> {
  browser.assign(`${env.VITE_API_URL}${await authorizePath(returnTo)}`);
}

/** Sends the browser to the sign-up page, which continues with the same authorization request. */
export async function startSignup(returnTo = "/dashboard"): Promise<void> {
  const next = await authorizePath(returnTo);
  browser.assign(`${env.VITE_API_URL}/o/signup?${new URLSearchParams({ next }).toString()}`);
}

function readFlow(): Flow | null {
  const raw = sessionStorage.getItem(FLOW_KEY);
  sessionStorage.removeItem(FLOW_KEY); // one use, whatever happens next
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Flow;
  } catch {
    return null;
  }
}

/** The claims of a JWT, unverified: the token came straight from the token endpoint. */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(json) as Record<string, unknown>;
}

function toTokens(body: TokenResponse, previous: Tokens | null): Tokens {
  return {
    accessToken: body.access_token,
    refreshToken: body.refresh_token ?? previous?.refreshToken ?? null,
    idToken: body.id_token ?? previous?.idToken ?? null,
    expiresAt: Date.now() + body.expires_in * 1000,
  };
}

function form(fields: Record<string, string>): URLSearchParams {
  return new URLSearchParams(fields);
}

const completions = new Map<string, Promise<string>>();

/**
 * Finishes the flow on /auth/callback: checks state, exchanges the code (with the verifier),
 * checks the ID token's nonce, keeps the tokens. Resolves to the path to go back to.
 * The same code is exchanged once even if the page asks twice (React's strict mode).
 */
export function completeLogin(search: string): Promise<string> {
  const params = new URLSearchParams(search);
  const key = params.get("code") ?? params.get("error") ?? search;
  let pending = completions.get(key);
  if (!pending) {
    pending = exchange(params);
    completions.set(key, pending);
  }
  return pending;
}

async function exchange(params: URLSearchParams): Promise<string> {
  const flow = readFlow();
  const error = params.get("error");
  if (error) {
    throw new ApiError(params.get("error_description") || `The sign-in was refused (${error}).`, { status: null, code: error });
  }
  const code = params.get("code");
  if (!flow || !code || params.get("state") !== flow.state) {
    throw new ApiError("This sign-in answer does not match a sign-in started here (state mismatch). Start again.", {
      status: null,
      code: "state_mismatch",
    });
  }
  let body: TokenResponse;
  try {
    const response = await oauthHttp.post<TokenResponse>(
      "/o/token/",
      form({
        grant_type: "authorization_code",
        code,
        redirect_uri: redirectUri(),
        client_id: env.VITE_OAUTH_CLIENT_ID,
        code_verifier: flow.verifier,
      }),
    );
    body = response.data;
  } catch (e) {
    throw toApiError(e);
  }
  if (body.id_token && jwtClaims(body.id_token).nonce !== flow.nonce) {
    throw new ApiError("The sign-in answer was not issued for this request (nonce mismatch). Start again.", {
      status: null,
      code: "nonce_mismatch",
    });
  }
  useAuthStore.getState().setTokens(toTokens(body, null));
  return flow.returnTo;
}

let refreshing: Promise<Tokens> | null = null;

/** New tokens from the refresh token; concurrent callers share one request (rotation allows one). */
export function refreshTokens(): Promise<Tokens> {
  refreshing ??= doRefresh().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function doRefresh(): Promise<Tokens> {
  const current = getTokens();
  if (!current?.refreshToken) {
    throw new ApiError("Your session has ended. Log in again.", { status: 401, code: "session_ended" });
  }
  try {
    const response = await oauthHttp.post<TokenResponse>(
      "/o/token/",
      form({ grant_type: "refresh_token", refresh_token: current.refreshToken, client_id: env.VITE_OAUTH_CLIENT_ID }),
    );
    const tokens = toTokens(response.data, current);
    useAuthStore.getState().setTokens(tokens);
    return tokens;
  } catch (e) {
    useAuthStore.getState().clear(); // the family may be revoked: sign in again
    throw toApiError(e);
  }
}

/** RP-initiated logout: the provider ends its session and deny-lists this login's tokens. */
export function logout(): void {
  const tokens = getTokens();
  useAuthStore.getState().clear();
  const params = new URLSearchParams({ client_id: env.VITE_OAUTH_CLIENT_ID, post_logout_redirect_uri: `${window.location.origin}/` });
  if (tokens?.idToken) params.set("id_token_hint", tokens.idToken);
  browser.assign(`${env.VITE_API_URL}/o/logout/?${params.toString()}`);
}
