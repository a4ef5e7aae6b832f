import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatNumber, formatUsd } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useUsageSummary } from "../api/get-usage-summary";

/** The last 30 days: totals, and requests per day. */
export function UsageOverview() {
  const summary = useUsageSummary({ granularity: "day", days: 30 });
  if (summary.isPending) return <Loading label="Loading usage…" />;
  if (summary.isError) return <ErrorMessage error={summary.error} onRetry={() => void summary.refetch()} />;
  const { totals, results } = summary.data;
  const days = results.map((r) => ({ day: (r.bucket ?? "").slice(5, 10), requests: r.requests, errors: r.errors }));
  return (
    <div className="stack">
      <dl className="stats">
        <div>
          <dt>Requests</dt>
          <dd data-testid="usage-requests">{formatNumber(totals.requests, "0")}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd>{formatNumber(totals.errors, "0")}</dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>{formatNumber(totals.total_tokens, "0")}</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>{formatUsd(totals.cost_usd)}</dd>
        </div>
      </dl>
      {totals.requests === 0 ? (
        <Empty title="No calls in the last 30 days">
          <p>Calls made with your keys show up here within a few seconds.</p>
        </Empty>
      ) : (
        <figure className="chart" aria-label="Requests per day, last 30 days">
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={days}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
              <XAxis dataKey="day" stroke="var(--muted)" fontSize={12} />
              <YAxis allowDecimals={false} stroke="var(--muted)" fontSize={12} width={40} />
              <Tooltip contentStyle={{ background: "var(--surface)", border: "1px solid var(--border)" }} />
              <Bar dataKey="requests" fill="var(--accent)" name="Requests" />
              <Bar dataKey="errors" fill="var(--danger)" name="Errors" />
            </BarChart>
          </ResponsiveContainer>
        </figure>
      )}
    </div>
  );
}
