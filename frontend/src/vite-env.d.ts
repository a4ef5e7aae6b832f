/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_API_URL?: string;
  readonly VITE_OAUTH_CLIENT_ID?: string;
  readonly VITE_OAUTH_SCOPES?: string;
  readonly VITE_PLAYGROUND_MAX_PROMPT_CHARS?: string;
}
