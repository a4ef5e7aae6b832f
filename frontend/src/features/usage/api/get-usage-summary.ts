import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";

export type UsageCounts = {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: string;
};

export type UsageRow = UsageCounts & { bucket: string | null; group: string | null };

export type UsageSummary = {
  start: string;
  end: string;
  granularity: "hour" | "day" | "month" | "total";
  group_by: string | null;
  totals: UsageCounts;
  results: UsageRow[];
  next: string | null;
};

export type UsageSummaryQuery = { granularity: "hour" | "day" | "month" | "total"; days: number; groupBy?: "model" | "key" | "end_user" };

export const usageSummaryQueryOptions = (organization: string, query: UsageSummaryQuery) =>
  queryOptions({
    queryKey: ["usage-summary", organization, query],
    queryFn: async () => {
      const end = new Date();
      const start = new Date(end.getTime() - query.days * 86_400_000);
      const params: Record<string, string> = { granularity: query.granularity, start: start.toISOString(), end: end.toISOString() };
      if (query.groupBy) params.group_by = query.groupBy;
      return (await api.get<UsageSummary>("/api/usage/summary", { params })).data;
    },
  });

export const useUsageSummary = (query: UsageSummaryQuery) => useQuery(usageSummaryQueryOptions(useOrganizationKey(), query));
