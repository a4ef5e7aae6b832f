import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { Page } from "@/features/keys/types";

/** oauth/apis.py AppOutputSerializer: a third-party OAuth app the organization registered. */
export type OAuthApp = {
  client_id: string;
  name: string;
  client_type: "confidential" | "public";
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  logo_url: string;
  created_by: string | null;
  created_at: string;
  updated_at: string;
};

export const appsQueryOptions = (organization: string) =>
  infiniteQueryOptions({
    queryKey: ["oauth-apps", organization],
    queryFn: async ({ pageParam }) => (await api.get<Page<OAuthApp>>(pageParam ?? "/api/organization/apps")).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useApps = () => useInfiniteQuery(appsQueryOptions(useOrganizationKey()));
