import OpenAI, { APIError, APIUserAbortError } from "openai";
import { publicOrigin } from "@/config/env";

/** An OpenAI SDK client for this instance's /v1 with the playground key (never the portal's token).
 * The key is short-lived and budget-capped, which is why a browser may hold it. */
export function inferenceClient(secret: string): OpenAI {
  return new OpenAI({ apiKey: secret, baseURL: `${publicOrigin()}/v1`, dangerouslyAllowBrowser: true, maxRetries: 0 });
}

const STATUS_WORDS: Record<number, string> = {
  401: "The playground key has expired or was revoked.",
  403: "This key may not do that.",
  404: "The model was not found.",
  429: "Too many requests, or the budget is spent. Wait a moment and try again.",
  502: "The model's server is not reachable right now. Try again shortly.",
  503: "The model is briefly unavailable. Try again shortly.",
  504: "The model took too long to answer. Try again shortly.",
};

/** An OpenAI-style error ({"error": {"message", "type", "code"}}) in words. */
export function describeInferenceError(error: unknown): string {
  if (error instanceof APIUserAbortError) return "Stopped.";
  if (error instanceof APIError) {
    const body = error.error as { message?: unknown } | undefined;
    if (body && typeof body.message === "string" && body.message) return body.message;
    if (error.status === undefined) return "Could not reach the server. Check your connection and try again.";
    return STATUS_WORDS[error.status] ?? `The server answered ${error.status}.`;
  }
  return error instanceof Error ? error.message : "Something went wrong.";
}

export const isExpiredKey = (error: unknown) => error instanceof APIError && error.status === 401;
export const isAbort = (error: unknown) => error instanceof APIUserAbortError;
