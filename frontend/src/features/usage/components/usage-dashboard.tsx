import { useInfiniteQuery } from "@tanstack/react-query";
import { useCallback, useId, useMemo } from "react";
import { useSearchParams } from "react-router";
import { keysQueryOptions } from "@/features/keys/api/get-keys";
import { may, useCurrentMembership } from "@/features/organizations/roles";
import { formatNumber, formatUsd } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useOrganizationKey } from "@/lib/use-organization";
import { useUsageSummary, type GroupBy, type UsageCounts, type UsageRow } from "../api/get-usage-summary";
import { toSeries, type Metric } from "../series";
import { formatMetric } from "../format";
import { UsageChart } from "./usage-chart";

const RANGES = [
  { days: 1, label: "Last 24 hours" },
  { days: 7, label: "Last 7 days" },
  { days: 30, label: "Last 30 days" },
  { days: 90, label: "Last 90 days" },
];
const METRICS: { value: Metric; label: string }[] = [
  { value: "requests", label: "Requests" },
  { value: "total_tokens", label: "Tokens" },
  { value: "cost_usd", label: "Cost (USD)" },
];
const GROUPS: { value: GroupBy | ""; label: string }[] = [
  { value: "", label: "Nothing (totals)" },
  { value: "model", label: "Model" },
  { value: "key", label: "API key" },
  { value: "end_user", label: "End user" },
];
const MAX_HOURLY_DAYS = 31; // the API answers at most 31 days per hour

type View = { days: number; hourly: boolean; groupBy: GroupBy | ""; metric: Metric };

function readView(search: URLSearchParams): View {
  const days = Number(search.get("days"));
  const group = search.get("group") ?? "";
  const show = search.get("show") ?? "";
  return {
    days: RANGES.some((r) => r.days === days) ? days : 30,
    hourly: search.get("per") === "hour",
    groupBy: GROUPS.some((g) => g.value === group) ? (group as GroupBy | "") : "",
    metric: METRICS.some((m) => m.value === show) ? (show as Metric) : "requests",
  };
}

function writeView(view: View): URLSearchParams {
  const params = new URLSearchParams();
  if (view.days !== 30) params.set("days", String(view.days));
  if (view.hourly) params.set("per", "hour");
  if (view.groupBy) params.set("group", view.groupBy);
  if (view.metric !== "requests") params.set("show", view.metric);
  return params;
}

type GroupTotal = UsageCounts & { group: string };

function sumByGroup(rows: UsageRow[]): GroupTotal[] {
  const byGroup = new Map<string, GroupTotal & { cost: number }>();
  for (const row of rows) {
    const group = row.group ?? "";
    const t = byGroup.get(group) ?? { group, requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: "0", cost: 0 };
    t.requests += row.requests;
    t.errors += row.errors;
    t.prompt_tokens += row.prompt_tokens;
    t.completion_tokens += row.completion_tokens;
    t.total_tokens += row.total_tokens;
    t.cost += Number(row.cost_usd);
    byGroup.set(group, t);
  }
  return [...byGroup.values()].map(({ cost, ...t }) => ({ ...t, cost_usd: String(cost) })).sort((a, b) => b.requests - a.requests);
}

function useKeyNames(enabled: boolean): (id: string) => string {
  const organization = useOrganizationKey();
  const keys = useInfiniteQuery({ ...keysQueryOptions(organization), enabled });
  const names = useMemo(() => new Map((keys.data?.pages ?? []).flatMap((p) => p.results).map((k) => [k.id, `${k.name} (${k.prefix}…)`])), [keys.data]);
  return useCallback((id: string) => names.get(id) ?? (id ? `key ${id.slice(0, 8)}` : "(no key)"), [names]);
}

/** Requests, tokens and cost over time, by model, key or end user, from /api/usage/summary. */
export function UsageDashboard() {
  const ids = { range: useId(), granularity: useId(), group: useId(), metric: useId() };
  // The view lives in the address (?days=90&per=hour&group=model&show=cost_usd): shareable, and
  // a reload shows the same chart.
  const [search, setSearch] = useSearchParams();
  const view = readView(search);
  const { days, groupBy, metric } = view;
  const granularity = view.hourly && days <= MAX_HOURLY_DAYS ? "hour" : "day";
  const update = (changes: Partial<View>) => setSearch(writeView({ ...view, ...changes }), { replace: true });
  const setDays = (value: number) => update({ days: value });
  const setHourly = (value: boolean) => update({ hourly: value });
  const setGroupBy = (value: GroupBy | "") => update({ groupBy: value });
  const setMetric = (value: Metric) => update({ metric: value });
  const summary = useUsageSummary({ granularity, days, groupBy: groupBy || null });
  const { membership } = useCurrentMembership();
  const keyName = useKeyNames(groupBy === "key" && may.listKeys(membership?.role));

  const data = summary.data;
  const labelOf = useMemo(() => {
    if (groupBy === "key") return keyName;
    if (groupBy === "end_user") return (g: string) => g || "(no end user)";
    return (g: string) => g || "(unknown)";
  }, [groupBy, keyName]);
  // Memoized: re-pivoting 90 days of rows only when the data or the view changes.
  const series = useMemo(
    () =>
      data
        ? toSeries(data.results, { metric, granularity: data.granularity === "hour" ? "hour" : "day", start: data.start, end: data.end, grouped: !!data.group_by, labelOf })
        : null,
    [data, metric, labelOf],
  );
  const groupTotals = useMemo(() => (data?.group_by ? sumByGroup(data.results) : []), [data]);

  const rangeLabel = RANGES.find((r) => r.days === days)?.label.toLowerCase() ?? `last ${days} days`;
  return (
    <div className="stack">
      <form className="controls" onSubmit={(e) => e.preventDefault()} aria-label="Usage chart options">
        <div className="control">
          <label htmlFor={ids.range}>Range</label>
          <select id={ids.range} value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {RANGES.map((r) => (
              <option key={r.days} value={r.days}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <div className="control">
          <label htmlFor={ids.granularity}>Per</label>
          <select id={ids.granularity} value={granularity} onChange={(e) => setHourly(e.target.value === "hour")}>
            <option value="day">Day (UTC)</option>
            <option value="hour" disabled={days > MAX_HOURLY_DAYS}>
              Hour (UTC){days > MAX_HOURLY_DAYS ? " — 31 days at most" : ""}
            </option>
          </select>
        </div>
        <div className="control">
          <label htmlFor={ids.group}>Group by</label>
          <select id={ids.group} value={groupBy} onChange={(e) => setGroupBy(e.target.value as GroupBy | "")}>
            {GROUPS.map((g) => (
              <option key={g.value} value={g.value}>
                {g.label}
              </option>
            ))}
          </select>
        </div>
        <div className="control">
          <label htmlFor={ids.metric}>Show</label>
          <select id={ids.metric} value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
            {METRICS.map((m) => (
              <option key={m.value} value={m.value}>
                {m.label}
              </option>
            ))}
          </select>
        </div>
      </form>

      {summary.isPending ? <Loading label="Loading usage…" /> : null}
      {summary.isError && !data ? <ErrorMessage error={summary.error} onRetry={() => void summary.refetch()} /> : null}
      {data && series ? (
        <>
          <dl className="stats" aria-busy={summary.isFetching}>
            <div>
              <dt>Requests</dt>
              <dd data-testid="usage-requests">{formatNumber(data.totals.requests, "0")}</dd>
            </div>
            <div>
              <dt>Errors</dt>
              <dd>{formatNumber(data.totals.errors, "0")}</dd>
            </div>
            <div>
              <dt>Tokens</dt>
              <dd>{formatNumber(data.totals.total_tokens, "0")}</dd>
            </div>
            <div>
              <dt>Cost</dt>
              <dd>{formatUsd(data.totals.cost_usd)}</dd>
            </div>
          </dl>
          <figure className="chart" data-testid="usage-chart" aria-labelledby={`${ids.metric}-caption`}>
            <figcaption id={`${ids.metric}-caption`} className="chart-caption">
              <span data-testid="usage-totals">
                {data.totals.requests.toLocaleString()} {data.totals.requests === 1 ? "request" : "requests"}, {data.totals.total_tokens.toLocaleString()} tokens,{" "}
                {formatUsd(data.totals.cost_usd)}
              </span>{" "}
              <span className="muted">
                — {METRICS.find((m) => m.value === metric)!.label.toLowerCase()} per {data.granularity === "hour" ? "hour" : "day"}
                {data.group_by ? ` by ${GROUPS.find((g) => g.value === data.group_by)!.label.toLowerCase()}` : ""}, {rangeLabel}
              </span>
            </figcaption>
            {data.totals.requests === 0 ? (
              <Empty title={`No calls in the ${rangeLabel}`}>
                <p>Calls made with your keys show up here within a few seconds.</p>
              </Empty>
            ) : (
              <UsageChart series={series} metric={metric} />
            )}
          </figure>
          {data.group_by && groupTotals.length > 0 ? (
            <div className="table-scroll">
              <table className="table compact">
                <caption>Usage by {GROUPS.find((g) => g.value === data.group_by)!.label.toLowerCase()}</caption>
                <thead>
                  <tr>
                    <th scope="col">{GROUPS.find((g) => g.value === data.group_by)!.label}</th>
                    <th scope="col">Requests</th>
                    <th scope="col">Errors</th>
                    <th scope="col">Tokens</th>
                    <th scope="col">Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {groupTotals.map((t) => (
                    <tr key={t.group}>
                      <th scope="row">{labelOf(t.group)}</th>
                      <td>{t.requests.toLocaleString()}</td>
                      <td>{t.errors.toLocaleString()}</td>
                      <td>{t.total_tokens.toLocaleString()}</td>
                      <td>{formatMetric(Number(t.cost_usd), "cost_usd")}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </>
      ) : null}
    </div>
  );
}
