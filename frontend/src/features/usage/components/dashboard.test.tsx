import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { describe, expect, it, vi } from "vitest";
import DashboardRoute from "@/app/routes/dashboard";
import { aKey, aMe, envelope, keysHandler, limitsHandler, meHandler } from "@/testing/fixtures";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";
import { BudgetBanner } from "./budget-banner";

const counts = (requests: number, cost: string) => ({
  requests,
  errors: 0,
  prompt_tokens: requests * 20,
  completion_tokens: requests * 10,
  total_tokens: requests * 30,
  cost_usd: cost,
});

/** GET /api/usage/summary as usage/apis.py answers it, rows per day (and group). */
function summaryHandler(seen: URLSearchParams[] = []) {
  return http.get("/api/usage/summary", ({ request }) => {
    const params = new URL(request.url).searchParams;
    seen.push(params);
    const groupBy = params.get("group_by");
    const rows = groupBy
      ? [
          { bucket: "2026-03-01T00:00:00Z", group: "smollm2", ...counts(2, "0.0020000000") },
          { bucket: "2026-03-02T00:00:00Z", group: "qwen", ...counts(1, "0.0010000000") },
        ]
      : [
          { bucket: "2026-03-01T00:00:00Z", group: null, ...counts(2, "0.0020000000") },
          { bucket: "2026-03-02T00:00:00Z", group: null, ...counts(1, "0.0010000000") },
        ];
    return HttpResponse.json({
      start: params.get("start"),
      end: params.get("end"),
      granularity: params.get("granularity"),
      group_by: groupBy,
      totals: counts(3, "0.0030000000"),
      results: rows,
      next: null,
    });
  });
}

const emptyNotifications = http.get("/api/notifications/", () => HttpResponse.json({ next: null, previous: null, results: [] }));

const effective = (budgets: unknown[]) =>
  http.get("/api/keys/:id/effective", () =>
    HttpResponse.json({
      models: { value: null, set_by: null },
      budgets,
      budget_binding_scope: "key",
      rpm: { value: null, set_by: null },
      tpm: { value: null, set_by: null },
      max_parallel: { value: null, set_by: null },
      expires_at: null,
      timezone: "UTC",
    }),
  );

const budget = (scope: "key" | "org", limit: string, spent: string) => ({
  scope,
  limit_usd: limit,
  period: "monthly",
  spent_usd: spent,
  reserved_usd: "0.000000",
  remaining_usd: String(Number(limit) - Number(spent)),
  resets_at: "2026-04-01T00:00:00+00:00",
});

describe("the dashboard", () => {
  it("charts the requests over time and states the totals in words", async () => {
    const seen: URLSearchParams[] = [];
    server.use(meHandler(), summaryHandler(seen), keysHandler([]), limitsHandler(), emptyNotifications);
    renderPage(<DashboardRoute />);
    const chart = await screen.findByTestId("usage-chart");
    expect(within(chart).getByTestId("usage-totals")).toHaveTextContent("3 requests, 90 tokens, $0.003000");
    expect(screen.getByTestId("usage-requests")).toHaveTextContent("3");
    expect(seen[0]!.get("granularity")).toBe("day");
    expect(seen[0]!.has("group_by")).toBe(false);
    // 30 days back from now, at a UTC midnight.
    const span = new Date(seen[0]!.get("end")!).getTime() - new Date(seen[0]!.get("start")!).getTime();
    expect(span).toBeGreaterThanOrEqual(30 * 86_400_000);
    expect(span).toBeLessThan(31 * 86_400_000);
    expect(seen[0]!.get("start")).toMatch(/T00:00:00\.000Z$/);
  });

  it("groups by model, per hour, over another range", async () => {
    const user = userEvent.setup();
    const seen: URLSearchParams[] = [];
    server.use(meHandler(), summaryHandler(seen), keysHandler([]), limitsHandler(), emptyNotifications);
    renderPage(<DashboardRoute />);
    await screen.findByTestId("usage-chart");
    await user.selectOptions(screen.getByLabelText("Group by"), "model");
    expect(await screen.findByRole("table", { name: "Usage by model" })).toBeInTheDocument();
    expect(screen.getByRole("rowheader", { name: "smollm2" })).toBeInTheDocument();
    expect(seen.at(-1)!.get("group_by")).toBe("model");

    await user.selectOptions(screen.getByLabelText("Range"), "7");
    await user.selectOptions(screen.getByLabelText("Per"), "hour");
    await waitFor(() => expect(seen.at(-1)!.get("granularity")).toBe("hour"));
    const last = seen.at(-1)!;
    expect(new Date(last.get("end")!).getTime() - new Date(last.get("start")!).getTime()).toBeLessThan(7 * 86_400_000 + 3_600_000);

    // 90 days is too long per hour (the API answers 31 at most): the view falls back to days.
    await user.selectOptions(screen.getByLabelText("Range"), "90");
    await waitFor(() => expect(seen.at(-1)!.get("granularity")).toBe("day"));
    expect(screen.getByRole("option", { name: /Hour \(UTC\) — 31 days at most/ })).toBeDisabled();
  });

  it("takes its view from the address (a reload or a shared link shows the same chart)", async () => {
    const seen: URLSearchParams[] = [];
    server.use(meHandler(), summaryHandler(seen), keysHandler([]), limitsHandler(), emptyNotifications);
    renderPage(<DashboardRoute />, { path: "/dashboard?days=90&group=model&show=cost_usd" });
    expect(await screen.findByRole("table", { name: "Usage by model" })).toBeInTheDocument();
    expect(screen.getByLabelText("Range")).toHaveValue("90");
    expect(screen.getByLabelText("Show")).toHaveValue("cost_usd");
    expect(screen.getByTestId("usage-totals").parentElement).toHaveTextContent("cost (usd) per day by model, last 90 days");
    const span = new Date(seen[0]!.get("end")!).getTime() - new Date(seen[0]!.get("start")!).getTime();
    expect(span).toBeGreaterThanOrEqual(90 * 86_400_000);
    expect(span).toBeLessThan(91 * 86_400_000);
  });

  it("shows the API's refusal in words", async () => {
    server.use(
      meHandler(),
      http.get("/api/usage/summary", () => envelope(404, "organization_not_found", "No such organization, or you are not a member.")),
      keysHandler([]),
      limitsHandler(),
      emptyNotifications,
    );
    renderPage(<DashboardRoute />);
    expect(await screen.findByText("No such organization, or you are not a member.")).toBeInTheDocument();
  });

  it("says so when there is no usage yet", async () => {
    server.use(
      meHandler(),
      http.get("/api/usage/summary", ({ request }) => {
        const p = new URL(request.url).searchParams;
        return HttpResponse.json({ start: p.get("start"), end: p.get("end"), granularity: "day", group_by: null, totals: counts(0, "0"), results: [], next: null });
      }),
      keysHandler([]),
      limitsHandler(),
      emptyNotifications,
    );
    renderPage(<DashboardRoute />);
    expect(await screen.findByText("No calls in the last 30 days")).toBeInTheDocument();
    expect(screen.getByTestId("usage-totals")).toHaveTextContent("0 requests");
    expect(await screen.findByText("No budgets set")).toBeInTheDocument();
  });

  it("shows spend against the organization's and each key's budget", async () => {
    server.use(
      meHandler(),
      summaryHandler(),
      keysHandler([aKey({ budget_usd: "5.000000" })]),
      limitsHandler({ budget_usd: "100.000000" }),
      effective([budget("key", "5.000000", "4.750000"), budget("org", "100.000000", "12.000000")]),
      emptyNotifications,
    );
    renderPage(<DashboardRoute />);
    expect(await screen.findByText(/\$4\.75 of \$5\.00 per month · 95 %/)).toBeInTheDocument();
    expect(screen.getByText(/\$12\.00 of \$100\.00 per month · 12 %/)).toBeInTheDocument();
    expect(screen.getByRole("meter", { name: "API key “billing-service”: 95 % used" })).toHaveAttribute("aria-valuenow", "95");
    expect(screen.getByText("almost used up")).toBeInTheDocument();
  });

  it("lists notifications and marks one read", async () => {
    const user = userEvent.setup();
    const read = vi.fn();
    let readAt: string | null = null;
    server.use(
      meHandler(),
      summaryHandler(),
      keysHandler([]),
      limitsHandler(),
      http.get("/api/notifications/", () =>
        HttpResponse.json({
          next: null,
          previous: null,
          results: [
            {
              id: 7,
              kind: "budget.threshold",
              title: "90% of the budget used: API key 'ci' (sk-abc…)",
              body: "The API key 'ci' (sk-abc…) has spent $4.50 of its $5.00 budget.",
              data: { threshold: 90 },
              created_at: "2026-03-01T10:00:00Z",
              read_at: readAt,
            },
          ],
        }),
      ),
      http.post("/api/notifications/:id/read", ({ params }) => {
        read(params.id);
        readAt = "2026-03-01T11:00:00Z";
        return HttpResponse.json({ id: 7, read_at: readAt });
      }),
    );
    renderPage(<DashboardRoute />);
    expect(await screen.findByText(/has spent \$4\.50 of its \$5\.00 budget/)).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: /Mark “90% of the budget used.*” as read/ }));
    await waitFor(() => expect(screen.queryByRole("button", { name: /as read/ })).not.toBeInTheDocument());
    expect(read).toHaveBeenCalledWith("7");
  });
});

describe("the budget banner", () => {
  it("warns on every page once a budget is 90 % used", async () => {
    server.use(
      meHandler(),
      keysHandler([aKey({ budget_usd: "5.000000" }), aKey({ id: "4b0c5c0e-0000-4000-8000-000000000002", name: "spare", budget_usd: "5.000000" })]),
      limitsHandler(),
      http.get("/api/keys/:id/effective", ({ params }) =>
        HttpResponse.json({
          models: { value: null, set_by: null },
          budgets: [budget("key", "5.000000", params.id === "4b0c5c0e-0000-4000-8000-000000000001" ? "4.600000" : "1.000000")],
          budget_binding_scope: "key",
          rpm: { value: null, set_by: null },
          tpm: { value: null, set_by: null },
          max_parallel: { value: null, set_by: null },
          expires_at: null,
          timezone: "UTC",
        }),
      ),
    );
    renderPage(<BudgetBanner />);
    const banner = await screen.findByTestId("budget-banner");
    expect(banner).toHaveTextContent("A budget is almost used up.");
    expect(banner).toHaveTextContent("API key “billing-service”: 92 % ($4.60 of $5.00)");
    expect(banner).not.toHaveTextContent("spare");
    expect(within(banner).getByRole("link", { name: "See budgets" })).toHaveAttribute("href", "/dashboard#budgets");
  });

  it("leaves out revoked and expired keys and the playground's key", async () => {
    const asked: string[] = [];
    server.use(
      meHandler(),
      keysHandler([
        aKey({ id: "revoked", budget_usd: "1.000000", revoked: true }),
        aKey({ id: "expired", budget_usd: "1.000000", expires_at: "2020-01-01T00:00:00Z" }),
        aKey({ id: "playground", name: "playground", budget_usd: "0.500000", playground: true }),
        aKey({ id: "live", name: "live", budget_usd: "1.000000" }),
      ]),
      limitsHandler(),
      http.get("/api/keys/:id/effective", ({ params }) => {
        asked.push(String(params.id));
        return HttpResponse.json({
          models: { value: null, set_by: null },
          budgets: [budget("key", "1.000000", "0.990000")],
          budget_binding_scope: "key",
          rpm: { value: null, set_by: null },
          tpm: { value: null, set_by: null },
          max_parallel: { value: null, set_by: null },
          expires_at: null,
          timezone: "UTC",
        });
      }),
    );
    renderPage(<BudgetBanner />);
    expect(await screen.findByTestId("budget-banner")).toHaveTextContent("API key “live”: 99 %");
    expect(asked).toEqual(["live"]);
  });

  it("stays away below 90 % and for roles that see no keys", async () => {
    const keys = vi.fn(() => HttpResponse.json({ next: null, previous: null, results: [] }));
    server.use(meHandler(aMe("viewer")), http.get("/api/keys/", keys), limitsHandler({ budget_usd: "10.000000" }));
    renderPage(<BudgetBanner />);
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.queryByTestId("budget-banner")).not.toBeInTheDocument();
    expect(keys).not.toHaveBeenCalled(); // a viewer may not list keys: no 403 asked for
  });

  it("asks nothing while signed out (the landing page)", async () => {
    const me = vi.fn(() => HttpResponse.json(aMe()));
    const limits = vi.fn(() => HttpResponse.json({}));
    server.use(http.get("/api/auth/me", me), http.get("/api/organization/limits", limits));
    render(
      <QueryClientProvider client={new QueryClient()}>
        <MemoryRouter>
          <BudgetBanner />
        </MemoryRouter>
      </QueryClientProvider>,
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(me).not.toHaveBeenCalled();
    expect(limits).not.toHaveBeenCalled();
    expect(screen.queryByTestId("budget-banner")).not.toBeInTheDocument();
  });
});
