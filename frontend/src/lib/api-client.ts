import axios, { type InternalAxiosRequestConfig } from "axios";
import { env } from "@/config/env";
import { refreshTokens } from "@/lib/auth/oauth";
import { getTokens } from "@/lib/auth/store";
import { toApiError } from "@/lib/errors";
import { useOrganizationStore } from "@/stores/organization";

/** The one HTTP client of the portal: Bearer token, current organization, errors in words. */
export const api = axios.create({
  baseURL: env.VITE_API_URL || "",
  headers: { Accept: "application/json" },
});

api.interceptors.request.use((config) => {
  const tokens = getTokens();
  if (tokens) config.headers.set("Authorization", `Bearer ${tokens.accessToken}`);
  const organization = useOrganizationStore.getState().activeOrganizationId;
  if (organization && !config.headers.has("LLMaaS-Organization")) config.headers.set("LLMaaS-Organization", organization);
  return config;
});

type Retryable = InternalAxiosRequestConfig & { _retried?: boolean };

api.interceptors.response.use(undefined, async (error: unknown) => {
  const config = axios.isAxiosError(error) ? (error.config as Retryable | undefined) : undefined;
  // An expired or revoked access token: refresh once (shared with concurrent calls), retry once.
  if (axios.isAxiosError(error) && error.response?.status === 401 && config && !config._retried && getTokens()?.refreshToken) {
    config._retried = true;
    try {
      await refreshTokens();
    } catch {
      throw toApiError(error);
    }
    return api(config);
  }
  throw toApiError(error);
});
