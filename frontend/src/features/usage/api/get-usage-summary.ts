import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";

/** usage/apis.py _COUNTS: one bucket's (or the range's) sums; cost is a decimal string. */
export type UsageCounts = {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: string;
};

export type Granularity = "hour" | "day" | "month" | "total";
export type GroupBy = "model" | "key" | "end_user";

export type UsageRow = UsageCounts & { bucket: string | null; group: string | null };

export type UsageSummary = {
  start: string;
  end: string;
  granularity: Granularity;
  group_by: GroupBy | null;
  totals: UsageCounts;
  results: UsageRow[];
  next: string | null;
};

export type UsageSummaryQuery = { granularity: Granularity; days: number; groupBy?: GroupBy | null };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The range's start: `days` before now, at the start of its UTC hour or day (whole buckets). */
export function rangeStart(now: Date, days: number, granularity: Granularity): Date {
  const unit = granularity === "hour" ? HOUR : DAY;
  return new Date(Math.floor((now.getTime() - days * DAY) / unit) * unit);
}

/** Every row of the summary: the API pages (cursor) past `limit` rows; the totals come with the first. */
export async function fetchUsageSummary(query: UsageSummaryQuery, now = new Date()): Promise<UsageSummary> {
  const params: Record<string, string | number> = {
    granularity: query.granularity,
    start: rangeStart(now, query.days, query.granularity).toISOString(),
    end: now.toISOString(),
    limit: 10_000,
  };
  if (query.groupBy) params.group_by = query.groupBy;
  const first = (await api.get<UsageSummary>("/api/usage/summary", { params })).data;
  const results = [...first.results];
  let next = first.next;
  for (let page = 0; next && page < 20; page += 1) {
    const more = (await api.get<UsageSummary>(next)).data;
    results.push(...more.results);
    next = more.next;
  }
  return { ...first, results, next: null };
}

export const usageSummaryQueryOptions = (organization: string, query: UsageSummaryQuery) =>
  queryOptions({
    queryKey: ["usage-summary", organization, query],
    queryFn: () => fetchUsageSummary(query),
    // Changing the range or grouping keeps the chart on screen meanwhile; another organization's never shows.
    placeholderData: (previous, previousQuery) => (previousQuery?.queryKey[1] === organization ? previous : undefined),
  });

export const useUsageSummary = (query: UsageSummaryQuery) => useQuery(usageSummaryQueryOptions(useOrganizationKey(), query));
