import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { BudgetPeriod } from "@/features/keys/types";

export type OrganizationLimits = {
  id: string;
  budget_usd: string | null;
  budget_period: BudgetPeriod;
  rpm: number | null;
  tpm: number | null;
  max_parallel: number | null;
  models: string[];
  timezone: string;
};

export const organizationLimitsQueryOptions = (organization: string) =>
  queryOptions({
    queryKey: ["organization-limits", organization],
    queryFn: async () => (await api.get<OrganizationLimits>("/api/organization/limits")).data,
  });

export const useOrganizationLimits = () => useQuery(organizationLimitsQueryOptions(useOrganizationKey()));
