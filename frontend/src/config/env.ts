import { z } from "zod";

// The build's environment (VITE_*), parsed once: a typo fails loudly at start-up.
const schema = z.object({
  // Where the API, /o/ and /v1 live; empty: this page's own origin (the one-host stack).
  VITE_API_URL: z.union([z.literal(""), z.url()]).default(""),
  VITE_OAUTH_CLIENT_ID: z.string().min(1).default("llmaas-portal"),
  VITE_OAUTH_SCOPES: z
    .string()
    .min(1)
    .default("openid profile email keys:read keys:write usage:read chats:read org:admin billing"),
  // The playground's largest message (characters, checked in the browser before sending).
  VITE_PLAYGROUND_MAX_PROMPT_CHARS: z.coerce.number().int().min(1).max(1_000_000).default(8000),
});

export const env = schema.parse(import.meta.env);

/** The public origin of this instance: the configured API URL, else the page's own origin. */
export function publicOrigin(): string {
  return (env.VITE_API_URL || window.location.origin).replace(/\/$/, "");
}
