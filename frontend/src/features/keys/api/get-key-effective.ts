import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { EffectiveLimits } from "../types";

export const keyEffectiveQueryOptions = (organization: string, id: string) =>
  queryOptions({
    queryKey: ["key-effective", id, organization],
    queryFn: async () => (await api.get<EffectiveLimits>(`/api/keys/${id}/effective`)).data,
  });

export const useKeyEffective = (id: string) => useQuery(keyEffectiveQueryOptions(useOrganizationKey(), id));
