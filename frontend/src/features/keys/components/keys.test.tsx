import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { describe, expect, it, vi } from "vitest";
import KeysRoute from "@/app/routes/keys";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";
import type { ApiKey } from "../types";

function aKey(overrides: Partial<ApiKey> = {}): ApiKey {
  return {
    id: "4b0c5c0e-0000-4000-8000-000000000001",
    name: "billing-service",
    prefix: "sk-abc123",
    models: ["smollm2"],
    created_by: "alice@example.com",
    created_at: "2026-01-02T10:00:00Z",
    expires_at: null,
    store_chats: false,
    budget_usd: "5.000000",
    budget_period: "monthly",
    rpm: 60,
    tpm: null,
    max_parallel: null,
    last_used_at: null,
    rotated_at: null,
    revoked: false,
    revoked_at: null,
    app: null,
    playground: false,
    ...overrides,
  };
}

function listing(keys: ApiKey[]) {
  return http.get("/api/keys/", () => HttpResponse.json({ next: null, previous: null, results: keys }));
}

describe("the keys page", () => {
  it("lists keys with their prefix, never a secret, and offers a first key when there is none", async () => {
    server.use(listing([aKey()]));
    renderPage(<KeysRoute />);
    const row = (await screen.findByText("billing-service")).closest("tr")!;
    expect(within(row).getByText("sk-abc123…")).toBeInTheDocument();
    expect(within(row).getByText("never")).toBeInTheDocument(); // last used
    expect(within(row).getByText(/\$5\.00 monthly · 60 rpm/)).toBeInTheDocument();
  });

  it("badges the playground's keys and hides revoked keys until asked", async () => {
    const user = userEvent.setup();
    server.use(
      listing([
        aKey(),
        aKey({ id: "p2", name: "playground", prefix: "sk-play02", playground: true }),
        aKey({ id: "p1", name: "playground", prefix: "sk-play01", playground: true, revoked: true, revoked_at: "2026-01-03T10:00:00Z" }),
        aKey({ id: "old", name: "old-service", prefix: "sk-old000", revoked: true, revoked_at: "2026-01-03T10:00:00Z" }),
      ]),
    );
    renderPage(<KeysRoute />);
    const live = (await screen.findByText("sk-play02…")).closest("tr")!;
    expect(within(live).getByText("Playground")).toBeInTheDocument();
    expect(within(screen.getByText("sk-abc123…").closest("tr")!).queryByText("Playground")).not.toBeInTheDocument();
    expect(screen.queryByText("sk-play01…")).not.toBeInTheDocument();
    expect(screen.queryByText("old-service")).not.toBeInTheDocument();

    const toggle = screen.getByRole("checkbox", { name: "Show revoked (2)" });
    await user.click(toggle);
    expect(screen.getByText("sk-play01…").closest("tr")).toHaveClass("revoked");
    expect(within(screen.getByText("old-service").closest("tr")!).getByText("revoked")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Revoke old-service" })).not.toBeInTheDocument();
    await user.click(toggle);
    expect(screen.queryByText("old-service")).not.toBeInTheDocument();
  });

  it("says so when every key is revoked", async () => {
    server.use(listing([aKey({ revoked: true })]));
    renderPage(<KeysRoute />);
    expect(await screen.findByText(/Every key here is revoked/)).toBeInTheDocument();
    expect(screen.queryByRole("table")).not.toBeInTheDocument();
  });

  it("keeps the actions column a table cell, with a header, its buttons in a group", async () => {
    server.use(listing([aKey()]));
    renderPage(<KeysRoute />);
    const cell = (await screen.findByRole("button", { name: "Revoke billing-service" })).closest("td")!;
    expect(cell).toHaveClass("actions");
    expect(cell.firstElementChild).toHaveClass("row-actions");
    expect(screen.getByRole("columnheader", { name: "Actions" })).toBeInTheDocument();
  });

  it("shows an empty state with a way to create the first key", async () => {
    server.use(listing([]));
    renderPage(<KeysRoute />);
    expect(await screen.findByText("No keys yet")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Create your first key" })).toBeInTheDocument();
  });

  it("creates a key in a modal that reveals the secret once", async () => {
    const user = userEvent.setup();
    let body: Record<string, unknown> = {};
    server.use(
      listing([]),
      http.post("/api/keys/", async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json({ ...aKey({ name: "ci" }), secret: "sk-abc123-the-secret-shown-once" }, { status: 201 });
      }),
    );
    renderPage(<KeysRoute />);
    await user.click(await screen.findByRole("button", { name: "Create key" }));
    const dialog = screen.getByRole("dialog", { name: "Create an API key" });
    expect(within(dialog).getByLabelText("Name")).toHaveFocus();
    await user.type(within(dialog).getByLabelText("Name"), "ci");
    await user.type(within(dialog).getByLabelText("Requests per minute"), "30");
    await user.click(within(dialog).getByRole("button", { name: "Create key" }));

    const reveal = await screen.findByRole("dialog", { name: "Your new key" });
    expect(within(reveal).getByTestId("key-secret")).toHaveTextContent("sk-abc123-the-secret-shown-once");
    expect(within(reveal).getByRole("button", { name: "Copy" })).toBeInTheDocument();
    expect(body).toMatchObject({ name: "ci", rpm: 30, tpm: null, models: [], store_chats: false });

    await user.keyboard("{Escape}"); // the secret must be acknowledged, not dismissed by accident
    expect(screen.getByRole("dialog", { name: "Your new key" })).toBeInTheDocument();

    await user.click(within(reveal).getByRole("button", { name: "I have stored it" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(screen.queryByText("sk-abc123-the-secret-shown-once")).not.toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(screen.queryByText("sk-abc123-the-secret-shown-once")).not.toBeInTheDocument();
  });

  it("copies the secret to the clipboard", async () => {
    const user = userEvent.setup();
    server.use(listing([]), http.post("/api/keys/", () => HttpResponse.json({ ...aKey(), secret: "sk-copy-me" }, { status: 201 })));
    renderPage(<KeysRoute />);
    await user.click(await screen.findByRole("button", { name: "Create key" }));
    await user.type(screen.getByLabelText("Name"), "x");
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Create key" }));
    await user.click(await screen.findByRole("button", { name: "Copy" }));
    expect(await navigator.clipboard.readText()).toBe("sk-copy-me");
    expect(screen.getByRole("button", { name: "Copied" })).toBeInTheDocument();
  });

  it("asks before revoking, and revokes only on confirmation", async () => {
    const user = userEvent.setup();
    const revoke = vi.fn(() => new HttpResponse(null, { status: 204 }));
    server.use(listing([aKey()]), http.delete("/api/keys/:id/", revoke));
    renderPage(<KeysRoute />);

    await user.click(await screen.findByRole("button", { name: "Revoke billing-service" }));
    const confirm = screen.getByRole("dialog", { name: "Revoke “billing-service”?" });
    expect(within(confirm).getByText(/stops working within a second/)).toBeInTheDocument();
    await user.click(within(confirm).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(revoke).not.toHaveBeenCalled();

    await user.click(screen.getByRole("button", { name: "Revoke billing-service" }));
    await user.click(screen.getByRole("button", { name: "Revoke key" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(revoke).toHaveBeenCalledTimes(1);
  });

  it("shows the API's error envelope in words", async () => {
    const user = userEvent.setup();
    server.use(
      listing([]),
      http.post("/api/keys/", () =>
        HttpResponse.json(
          { error: { code: "email_not_verified", message: "Confirm your email address before creating keys.", details: {} } },
          { status: 403 },
        ),
      ),
    );
    renderPage(<KeysRoute />);
    await user.click(await screen.findByRole("button", { name: "Create key" }));
    await user.type(screen.getByLabelText("Name"), "x");
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Create key" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Confirm your email address before creating keys.");
    expect(screen.queryByTestId("key-secret")).not.toBeInTheDocument();
  });

  it("names the field of a validation error", async () => {
    const user = userEvent.setup();
    server.use(
      listing([]),
      http.post("/api/keys/", () =>
        HttpResponse.json(
          { error: { code: "invalid_request", message: "The request is not valid.", details: { rpm: ["Ensure this value is less than or equal to 10000000."] } } },
          { status: 400 },
        ),
      ),
    );
    renderPage(<KeysRoute />);
    await user.click(await screen.findByRole("button", { name: "Create key" }));
    await user.type(screen.getByLabelText("Name"), "x");
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Create key" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The request is not valid. rpm: Ensure this value is less than or equal to 10000000.");
  });

  it("shows a failed list in words with a retry", async () => {
    server.use(http.get("/api/keys/", () => HttpResponse.json({ error: { code: "permission_denied", message: "Viewers cannot see keys.", details: {} } }, { status: 403 })));
    renderPage(<KeysRoute />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Viewers cannot see keys.");
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });

  it("rotates with a grace period and one rotation id, revealing the new secret once", async () => {
    const user = userEvent.setup();
    let body: Record<string, unknown> = {};
    server.use(
      listing([aKey()]),
      http.post("/api/keys/:id/rotate", async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(
          { ...aKey(), secret: "sk-abc123-rotated", replayed: false, previous_secret_expires_at: "2026-01-03T10:00:00Z" },
          { status: 201 },
        );
      }),
    );
    renderPage(<KeysRoute />);
    await user.click(await screen.findByRole("button", { name: "Rotate billing-service" }));
    await user.selectOptions(screen.getByLabelText("Keep the old secret working for"), "86400");
    await user.click(screen.getByRole("button", { name: "Rotate" }));
    expect(await screen.findByTestId("key-secret")).toHaveTextContent("sk-abc123-rotated");
    expect(screen.getByText(/previous secret works until/)).toBeInTheDocument();
    expect(body.grace_seconds).toBe(86400);
    expect(body.rotation_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("edits a key's limits (empty means unlimited)", async () => {
    const user = userEvent.setup();
    let body: Record<string, unknown> = {};
    server.use(
      listing([aKey()]),
      http.patch("/api/keys/:id/", async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(aKey({ rpm: null }));
      }),
    );
    renderPage(<KeysRoute />);
    await user.click(await screen.findByRole("button", { name: "Edit billing-service" }));
    const rpm = screen.getByLabelText("Requests per minute");
    expect(rpm).toHaveValue(60);
    await user.clear(rpm);
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(body).toMatchObject({ rpm: null, budget_usd: "5.000000", name: "billing-service" });
  });

  it("shows the effective limits and who sets them", async () => {
    const user = userEvent.setup();
    server.use(
      listing([aKey()]),
      http.get("/api/keys/:id/effective", () =>
        HttpResponse.json({
          models: { value: ["smollm2"], set_by: "key" },
          budgets: [{ scope: "org", limit_usd: "5", period: "monthly", spent_usd: "1.25", reserved_usd: "0", remaining_usd: "3.75", resets_at: null }],
          budget_binding_scope: "org",
          rpm: { value: 60, set_by: "both" },
          tpm: { value: null, set_by: null },
          max_parallel: { value: 4, set_by: "organization" },
          expires_at: null,
          timezone: "UTC",
        }),
      ),
    );
    renderPage(<KeysRoute />);
    await user.click(await screen.findByRole("button", { name: "What applies to billing-service" }));
    const dialog = await screen.findByRole("dialog");
    expect(await within(dialog).findByText(/remaining \$3\.75/)).toBeInTheDocument();
    expect(within(within(dialog).getByText("Parallel requests").closest("tr")!).getByText("the organization")).toBeInTheDocument();
  });
});
