import { memo } from "react";
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatMetric } from "../format";
import type { Metric, Series } from "../series";

const COLORS = ["#7aa2ff", "#f2a65a", "#5cc8a8", "#d987e6", "#e6c15c", "#ff7b7b", "#6cc3f0", "#a3d977", "#b8b8c8"];
// Beyond this many buckets (a month of hours) stacked areas replace bars: one path per group
// instead of one rectangle per bucket and group keeps the first render fast.
const MAX_BARS = 120;

const compact = (value: number) => (Math.abs(value) >= 1000 ? Intl.NumberFormat(undefined, { notation: "compact" }).format(value) : String(value));

/** Stacked bars (or areas for long hourly ranges), one per bucket; no animation. */
export const UsageChart = memo(function UsageChart({ series, metric }: { series: Series; metric: Metric }) {
  const interval = series.points.length > 40 ? Math.ceil(series.points.length / 12) - 1 : "preserveStartEnd";
  const areas = series.points.length > MAX_BARS;
  const Chart = areas ? AreaChart : BarChart;
  return (
    <ResponsiveContainer width="100%" height={280} initialDimension={{ width: 800, height: 280 }}>
      <Chart data={series.points} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" vertical={false} />
        <XAxis dataKey="label" stroke="var(--muted)" fontSize={12} interval={interval} minTickGap={8} />
        <YAxis
          stroke="var(--muted)"
          fontSize={12}
          width={52}
          allowDecimals={metric === "cost_usd"}
          tickFormatter={(v: number) => (metric === "cost_usd" ? `$${compact(v)}` : compact(v))}
        />
        <Tooltip
          isAnimationActive={false}
          cursor={areas ? { stroke: "var(--muted)" } : { fill: "var(--surface-2)" }}
          contentStyle={{ background: "var(--surface)", border: "1px solid var(--border)", color: "var(--text)" }}
          formatter={(value) => formatMetric(Number(value), metric)}
        />
        {series.groups.length > 1 ? <Legend wrapperStyle={{ fontSize: 12 }} /> : null}
        {series.groups.map((group, i) => {
          const color = COLORS[i % COLORS.length];
          return areas ? (
            <Area
              key={group.key}
              dataKey={group.key}
              name={group.label}
              stackId="usage"
              type="monotone"
              stroke={color}
              fill={color}
              fillOpacity={0.35}
              dot={false}
              activeDot={false}
              isAnimationActive={false}
            />
          ) : (
            <Bar key={group.key} dataKey={group.key} name={group.label} stackId="usage" fill={color} isAnimationActive={false} />
          );
        })}
      </Chart>
    </ResponsiveContainer>
  );
});
