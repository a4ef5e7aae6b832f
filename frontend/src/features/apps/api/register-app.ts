import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { OAuthApp } from "./get-apps";

/** oauth/apis.py AppCollectionApi.InputSerializer. */
export type AppInput = {
  name: string;
  client_type: "confidential" | "public";
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  logo_url: string;
};

/** The client secret is in this response only (null for a public app). */
export type RegisteredApp = OAuthApp & { client_secret: string | null };

export const registerApp = async (input: AppInput) => (await api.post<RegisteredApp>("/api/organization/apps", input)).data;

export const useRegisterApp = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: registerApp, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["oauth-apps"] }) });
};
