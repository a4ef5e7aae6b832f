import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";

/** oauth/apis.py GrantOutputSerializer: a third-party app the caller has authorized. */
export type Grant = {
  client_id: string;
  name: string;
  logo_url: string;
  organization: string | null;
  scopes: string[];
  first_authorized_at: string | null;
  last_authorized_at: string | null;
  keys: number;
};

// The caller's own grants: the same in every organization (no organization in the key).
export const grantsQueryOptions = () =>
  queryOptions({
    queryKey: ["grants"],
    queryFn: async () => (await api.get<{ results: Grant[] }>("/api/auth/grants")).data.results,
  });

export const useGrants = () => useQuery(grantsQueryOptions());
