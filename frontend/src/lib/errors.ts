import { isAxiosError } from "axios";

/** An API failure in words: the server's error envelope, or what went wrong on the way. */
export class ApiError extends Error {
  readonly status: number | null;
  readonly code: string;
  readonly details: unknown;

  constructor(message: string, { status, code, details }: { status: number | null; code: string; details?: unknown }) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

type Envelope = { error: { code?: unknown; message?: unknown; details?: unknown } };

function isEnvelope(body: unknown): body is Envelope {
  return typeof body === "object" && body !== null && typeof (body as Envelope).error === "object" && (body as Envelope).error !== null;
}

/** Field errors ({"name": ["This field is required."]}) as one sentence per field. */
export function describeDetails(details: unknown): string[] {
  if (typeof details !== "object" || details === null || Array.isArray(details)) return [];
  return Object.entries(details as Record<string, unknown>).flatMap(([field, value]) => {
    const messages = Array.isArray(value) ? value.filter((m) => typeof m === "string") : typeof value === "string" ? [value] : [];
    return messages.length ? [`${field === "non_field_errors" ? "" : `${field}: `}${messages.join(" ")}`] : [];
  });
}

const STATUS_WORDS: Record<number, string> = {
  401: "Your session has ended. Log in again.",
  403: "You are not allowed to do this.",
  404: "Not found.",
  429: "Too many requests. Wait a moment and try again.",
  502: "The server is not reachable right now. Try again shortly.",
  503: "The service is briefly unavailable. Try again shortly.",
  504: "The server took too long to answer. Try again shortly.",
};

/** Any thrown value → an ApiError whose message a person can read. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isAxiosError(error)) {
    const status = error.response?.status ?? null;
    const body: unknown = error.response?.data;
    if (isEnvelope(body)) {
      const { code, message, details } = body.error;
      const words = typeof message === "string" && message ? message : STATUS_WORDS[status ?? 0] ?? "The request failed.";
      const fields = describeDetails(details);
      return new ApiError(fields.length ? `${words} ${fields.join(" ")}` : words, {
        status,
        code: typeof code === "string" ? code : "error",
        details,
      });
    }
    if (typeof body === "object" && body !== null && "error_description" in body) {
      // OAuth endpoints (/o/token/) answer RFC 6749 errors.
      const oauth = body as { error?: string; error_description?: string };
      return new ApiError(oauth.error_description || "The sign-in was refused.", { status, code: oauth.error ?? "oauth_error" });
    }
    if (status === null) {
      return new ApiError("Could not reach the server. Check your connection and try again.", { status, code: "network_error" });
    }
    return new ApiError(STATUS_WORDS[status] ?? `The server answered ${status}.`, { status, code: "http_error" });
  }
  if (error instanceof Error) return new ApiError(error.message, { status: null, code: "client_error" });
  return new ApiError("Something went wrong.", { status: null, code: "client_error" });
}
