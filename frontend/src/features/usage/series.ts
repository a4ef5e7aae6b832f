import type { Granularity, UsageRow } from "./api/get-usage-summary";

export type Metric = "requests" | "total_tokens" | "cost_usd";

export type SeriesPoint = { bucket: string; label: string } & Record<string, number | string>;

export type Series = {
  points: SeriesPoint[];
  /** Data keys of the plotted groups, largest first ("total" when not grouped). */
  groups: { key: string; label: string; total: number }[];
};

export const TOTAL = "total";
export const OTHER = "other";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export function metricValue(row: UsageRow, metric: Metric): number {
  return metric === "cost_usd" ? Number(row.cost_usd) : row[metric];
}

function bucketLabel(time: number, granularity: Granularity): string {
  const iso = new Date(time).toISOString();
  return granularity === "hour" ? `${iso.slice(5, 10)} ${iso.slice(11, 13)}h` : iso.slice(5, 10);
}

/**
 * Rows of the summary → one point per bucket over the whole range (empty buckets are zeros),
 * one numeric field per group; beyond `maxGroups` the smallest groups are summed as "other".
 * Pure and linear in rows + buckets: the dashboard memoizes it.
 */
export function toSeries(
  rows: UsageRow[],
  {
    metric,
    granularity,
    start,
    end,
    grouped,
    labelOf = (group) => group,
    maxGroups = 8,
  }: {
    metric: Metric;
    granularity: "hour" | "day";
    start: string;
    end: string;
    grouped: boolean;
    labelOf?: (group: string) => string;
    maxGroups?: number;
  },
): Series {
  const unit = granularity === "hour" ? HOUR : DAY;
  const first = Math.floor(new Date(start).getTime() / unit) * unit;
  const last = new Date(end).getTime();

  const totals = new Map<string, number>();
  for (const row of rows) {
    const group = grouped ? (row.group ?? "") : TOTAL;
    totals.set(group, (totals.get(group) ?? 0) + metricValue(row, metric));
  }
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const kept = ranked.length > maxGroups ? ranked.slice(0, maxGroups - 1) : ranked;
  const keyOf = new Map<string, string>(kept.map(([group], i) => [group, grouped ? `g${i}` : TOTAL]));
  const groups = kept.map(([group, total]) => ({ key: keyOf.get(group)!, label: grouped ? labelOf(group) : "Total", total }));
  if (ranked.length > kept.length) {
    const rest = ranked.slice(kept.length).reduce((sum, [, total]) => sum + total, 0);
    groups.push({ key: OTHER, label: `${ranked.length - kept.length} others`, total: rest });
  }

  const index = new Map<number, SeriesPoint>();
  const points: SeriesPoint[] = [];
  for (let t = first; t < last; t += unit) {
    const point: SeriesPoint = { bucket: new Date(t).toISOString(), label: bucketLabel(t, granularity) };
    for (const g of groups) point[g.key] = 0;
    index.set(t, point);
    points.push(point);
  }
  for (const row of rows) {
    if (!row.bucket) continue;
    const t = Math.floor(new Date(row.bucket).getTime() / unit) * unit;
    let point = index.get(t);
    if (!point) {
      point = { bucket: new Date(t).toISOString(), label: bucketLabel(t, granularity) };
      for (const g of groups) point[g.key] = 0;
      index.set(t, point);
      points.push(point);
    }
    const key = grouped ? (keyOf.get(row.group ?? "") ?? OTHER) : TOTAL;
    point[key] = (point[key] as number) + metricValue(row, metric);
  }
  points.sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));
  return { points, groups };
}
