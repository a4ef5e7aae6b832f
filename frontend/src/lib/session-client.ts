import axios from "axios";
import { env } from "@/config/env";
import { toApiError } from "@/lib/errors";

// The few account operations the API keeps for the session (SESSION_ONLY: a Bearer token may
// never call them). On the one origin the browser still holds the authorization server's
// session cookie from the login page, so these go with that cookie and CSRF, never a token.
const sessionHttp = axios.create({ baseURL: env.VITE_API_URL || "", withCredentials: true, headers: { Accept: "application/json" } });

sessionHttp.interceptors.response.use(undefined, (error: unknown) => {
  throw toApiError(error);
});

export async function sessionPost<T>(path: string, body?: unknown): Promise<T> {
  const csrf = (await sessionHttp.get<{ csrf_token: string }>("/api/auth/csrf")).data.csrf_token;
  return (await sessionHttp.post<T>(path, body ?? {}, { headers: { "X-CSRFToken": csrf } })).data;
}
