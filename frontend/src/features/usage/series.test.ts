import { describe, expect, it } from "vitest";
import type { UsageRow } from "./api/get-usage-summary";
import { toSeries } from "./series";

const row = (bucket: string, group: string | null, requests: number, cost = "0.0000000000"): UsageRow => ({
  bucket,
  group,
  requests,
  errors: 0,
  prompt_tokens: requests * 10,
  completion_tokens: requests * 5,
  total_tokens: requests * 15,
  cost_usd: cost,
});

describe("toSeries", () => {
  it("gives every day of the range a point, empty days as zeros", () => {
    const s = toSeries([row("2026-03-02T00:00:00Z", null, 4)], {
      metric: "requests",
      granularity: "day",
      start: "2026-03-01T00:00:00Z",
      end: "2026-03-04T00:00:00Z",
      grouped: false,
    });
    expect(s.points.map((p) => [p.label, p.total])).toEqual([
      ["03-01", 0],
      ["03-02", 4],
      ["03-03", 0],
    ]);
    expect(s.groups).toEqual([{ key: "total", label: "Total", total: 4 }]);
  });

  it("stacks groups largest first and sums the smallest as others", () => {
    const rows = [
      row("2026-03-01T00:00:00Z", "a", 1),
      row("2026-03-01T00:00:00Z", "b", 5),
      row("2026-03-01T00:00:00Z", "c", 3),
      row("2026-03-02T00:00:00Z", "d", 2),
    ];
    const s = toSeries(rows, { metric: "requests", granularity: "day", start: "2026-03-01T00:00:00Z", end: "2026-03-03T00:00:00Z", grouped: true, maxGroups: 3, labelOf: (g) => g.toUpperCase() });
    expect(s.groups.map((g) => [g.label, g.total])).toEqual([
      ["B", 5],
      ["C", 3],
      ["2 others", 3],
    ]);
    expect(s.points[0]).toMatchObject({ g0: 5, g1: 3, other: 1 });
    expect(s.points[1]).toMatchObject({ g0: 0, g1: 0, other: 2 });
  });

  it("reads cost as dollars and tokens as totals", () => {
    const rows = [row("2026-03-01T05:00:00Z", null, 2, "0.0150000000"), row("2026-03-01T06:00:00Z", null, 1, "0.0050000000")];
    const opts = { granularity: "hour" as const, start: "2026-03-01T05:00:00Z", end: "2026-03-01T07:00:00Z", grouped: false };
    expect(toSeries(rows, { ...opts, metric: "cost_usd" }).points.map((p) => p.total)).toEqual([0.015, 0.005]);
    expect(toSeries(rows, { ...opts, metric: "total_tokens" }).points.map((p) => p.total)).toEqual([30, 15]);
    expect(toSeries(rows, { ...opts, metric: "requests" }).points.map((p) => p.label)).toEqual(["03-01 05h", "03-01 06h"]);
  });

  it("pivots 90 days of 8 models into 90 points", () => {
    const rows: UsageRow[] = [];
    for (let d = 0; d < 90; d += 1) for (let m = 0; m < 8; m += 1) rows.push(row(new Date(Date.UTC(2026, 0, 1) + d * 86_400_000).toISOString(), `model-${m}`, m + 1));
    const s = toSeries(rows, { metric: "requests", granularity: "day", start: "2026-01-01T00:00:00Z", end: "2026-04-01T00:00:00Z", grouped: true });
    expect(s.points).toHaveLength(90);
    expect(s.groups).toHaveLength(8);
    expect(s.groups[0]).toMatchObject({ label: "model-7", total: 8 * 90 });
  });
});
