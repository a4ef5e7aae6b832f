import { useMutation, useQueryClient } from "@tanstack/react-query";
import axios from "axios";
import { env } from "@/config/env";
import { toApiError } from "@/lib/errors";

// Revoking an app is session-only (no token, not even the portal's, may take back an app's
// access): the login session's cookie and CSRF token go with it, never the Bearer token.
const session = axios.create({ baseURL: env.VITE_API_URL || "", withCredentials: true, headers: { Accept: "application/json" } });
session.interceptors.response.use(undefined, (error: unknown) => {
  throw toApiError(error);
});

export const revokeGrant = async (clientId: string) => {
  const csrf = (await session.get<{ csrf_token: string }>("/api/auth/csrf")).data.csrf_token;
  await session.delete(`/api/auth/grants/${encodeURIComponent(clientId)}`, { headers: { "X-CSRFToken": csrf } });
};

export const useRevokeGrant = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: revokeGrant, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["grants"] }) });
};
