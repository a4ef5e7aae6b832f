import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";

/** usage/apis.py RetentionApi.OutputSerializer. */
export type Retention = {
  log_retention_days: number | null;
  chat_retention_days: number | null;
  effective_log_retention_days: number;
  effective_chat_retention_days: number;
  platform_log_retention_days: number;
  platform_chat_retention_days: number;
};

export const retentionQueryOptions = (organization: string) =>
  queryOptions({
    queryKey: ["retention", organization],
    queryFn: async () => (await api.get<Retention>("/api/usage/retention")).data,
  });

export const useRetention = (enabled = true) => useQuery({ ...retentionQueryOptions(useOrganizationKey()), enabled });
