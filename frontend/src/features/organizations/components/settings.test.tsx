import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { describe, expect, it, vi } from "vitest";
import SettingsRoute from "@/app/routes/settings";
import { aMe, envelope, limitsBody, limitsHandler, meHandler } from "@/testing/fixtures";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";
import type { Member } from "../api/get-members";
import type { Invitation } from "../api/get-invitations";
import type { Retention } from "@/features/usage/api/get-retention";

const ME = aMe("owner");
const members: Member[] = [
  { user_id: ME.id, email: ME.email, name: "Alice", role: "owner", active: true, joined_at: "2026-01-01T00:00:00Z" },
  { user_id: "5f0c5c0e-0000-4000-8000-0000000000b2", email: "bob@example.com", name: "", role: "member", active: true, joined_at: "2026-02-01T00:00:00Z" },
];
const invitation: Invitation = {
  id: "6a0c5c0e-0000-4000-8000-0000000000c1",
  email: "carol@example.com",
  role: "viewer",
  status: "pending",
  invited_by: ME.email,
  created_at: "2026-03-01T00:00:00Z",
  expires_at: "2026-03-08T00:00:00Z",
};
const page = <T,>(results: T[]) => ({ next: null, previous: null, results });

const retention: Retention = {
  log_retention_days: null,
  chat_retention_days: 30,
  effective_log_retention_days: 90,
  effective_chat_retention_days: 30,
  platform_log_retention_days: 90,
  platform_chat_retention_days: 90,
};

/** Every section's GET, as an owner of a shared organization sees it. */
function ownerApi(overrides: Parameters<typeof server.use> = []) {
  server.use(
    ...overrides,
    meHandler(ME),
    http.get("/api/organization/members", () => HttpResponse.json(page(members))),
    http.get("/api/organization/invitations", () => HttpResponse.json(page([invitation]))),
    limitsHandler({ budget_usd: "50.000000", rpm: 120 }),
    http.get("/api/usage/retention", () => HttpResponse.json(retention)),
    http.get("/api/audit/", () => HttpResponse.json(page([]))),
    http.get("/api/auth/grants", () => HttpResponse.json({ results: [] })),
    http.get("/api/organization/apps", () => HttpResponse.json(page([]))),
  );
}

describe("the settings page", () => {
  it("changes a member's role", async () => {
    const user = userEvent.setup();
    let body: unknown = null;
    ownerApi([
      http.patch("/api/organization/members/:id", async ({ request, params }) => {
        body = { id: params.id, ...((await request.json()) as object) };
        return HttpResponse.json({ ...members[1], role: "admin" });
      }),
    ]);
    renderPage(<SettingsRoute />);
    await user.selectOptions(await screen.findByLabelText("Role of bob@example.com"), "admin");
    await waitFor(() => expect(body).toEqual({ id: members[1]!.user_id, role: "admin" }));
  });

  it("gives the members' actions column a header, its cells a button group", async () => {
    ownerApi();
    renderPage(<SettingsRoute />);
    const members = await screen.findByRole("table", { name: "Members" });
    expect(within(members).getAllByRole("columnheader").map((h) => h.textContent)).toEqual(["Member", "Role", "Joined", "Actions"]);
    const cell = within(members).getByRole("button", { name: "Remove bob@example.com" }).closest("td")!;
    expect(cell).toHaveClass("actions");
    expect(cell.firstElementChild).toHaveClass("row-actions");
  });

  it("removes a member only after confirmation, and shows a refusal in words", async () => {
    const user = userEvent.setup();
    const remove = vi.fn(() => envelope(409, "last_owner", "The last owner cannot be removed."));
    ownerApi([http.delete("/api/organization/members/:id", remove)]);
    renderPage(<SettingsRoute />);
    expect(await screen.findByRole("rowheader", { name: /Alice/ })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Remove Alice" })).not.toBeInTheDocument(); // not oneself
    await user.click(screen.getByRole("button", { name: "Remove bob@example.com" }));
    const dialog = screen.getByRole("dialog", { name: "Remove bob@example.com?" });
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveFocus();
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(remove).not.toHaveBeenCalled();

    await user.click(screen.getByRole("button", { name: "Remove bob@example.com" }));
    await user.click(screen.getByRole("button", { name: "Remove member" }));
    expect(await within(screen.getByRole("dialog")).findByText("The last owner cannot be removed.")).toBeInTheDocument();
    expect(remove).toHaveBeenCalledTimes(1);
  });

  it("invites with a role, and revokes an invitation", async () => {
    const user = userEvent.setup();
    let sent: unknown = null;
    const revoked = vi.fn(() => new HttpResponse(null, { status: 204 }));
    ownerApi([
      http.post("/api/organization/invitations", async ({ request }) => {
        sent = await request.json();
        return HttpResponse.json({ ...invitation, id: "new", email: "dan@example.com", role: "admin" }, { status: 201 });
      }),
      http.delete("/api/organization/invitations/:id", revoked),
    ]);
    renderPage(<SettingsRoute />);
    const form = await screen.findByRole("form", { name: "Invite someone" });
    await user.type(within(form).getByLabelText("Email address"), "dan@example.com");
    await user.selectOptions(within(form).getByLabelText("Role"), "admin");
    await user.click(within(form).getByRole("button", { name: "Send invitation" }));
    expect(await screen.findByText("Invitation sent to dan@example.com as admin.")).toBeInTheDocument();
    expect(sent).toEqual({ email: "dan@example.com", role: "admin" });

    await user.click(await screen.findByRole("button", { name: "Revoke the invitation of carol@example.com" }));
    await waitFor(() => expect(revoked).toHaveBeenCalledTimes(1));
  });

  it("edits the organization's limits (empty is unlimited)", async () => {
    const user = userEvent.setup();
    let body: Record<string, unknown> = {};
    ownerApi([
      http.patch("/api/organization/limits", async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(limitsBody({ ...body }));
      }),
    ]);
    renderPage(<SettingsRoute />);
    await user.click(await screen.findByRole("button", { name: "Edit limits" }));
    const form = screen.getByRole("form", { name: "Organization limits" });
    expect(within(form).getByLabelText("Budget (USD)")).toHaveValue(50);
    await user.clear(within(form).getByLabelText("Requests per minute"));
    await user.type(within(form).getByLabelText("Tokens per minute"), "50000");
    await user.type(within(form).getByLabelText("Models"), "smollm2, qwen");
    await user.click(within(form).getByRole("button", { name: "Save limits" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: "Organization limits" })).not.toBeInTheDocument());
    expect(body).toEqual({ budget_usd: "50", budget_period: "monthly", rpm: null, tpm: 50000, max_parallel: null, models: ["smollm2", "qwen"], timezone: "UTC" });
  });

  it("shows and changes retention", async () => {
    const user = userEvent.setup();
    let body: unknown = null;
    let current = retention;
    ownerApi([
      http.get("/api/usage/retention", () => HttpResponse.json(current)),
      http.patch("/api/usage/retention", async ({ request }) => {
        body = await request.json();
        current = { ...retention, log_retention_days: 7, effective_log_retention_days: 7 };
        return HttpResponse.json(current);
      }),
    ]);
    renderPage(<SettingsRoute />);
    const section = await screen.findByRole("region", { name: "Retention" });
    expect(await within(section).findByText(/90 days/)).toHaveTextContent("(the platform's)");
    await user.click(within(section).getByRole("button", { name: "Change retention" }));
    await user.type(within(section).getByLabelText("Keep request logs for (days)"), "7");
    await user.click(within(section).getByRole("button", { name: "Save retention" }));
    expect(await within(section).findByText("7 days")).toBeInTheDocument();
    expect(body).toEqual({ log_retention_days: 7, chat_retention_days: 30 });
  });

  it("pages through the audit trail, and filters it", async () => {
    const user = userEvent.setup();
    const seen: URLSearchParams[] = [];
    const event = (id: number, action: string) => ({
      id,
      created_at: "2026-03-01T10:00:00Z",
      action,
      actor: { id: ME.id, email: ME.email },
      target: { type: "api_key", id: "k1" },
      details: { name: "ci" },
      ip: "10.0.0.1",
      user_agent: "test",
    });
    ownerApi([
      http.get("/api/audit/", ({ request }) => {
        const url = new URL(request.url);
        seen.push(url.searchParams);
        return url.searchParams.get("cursor")
          ? HttpResponse.json(page([event(1, "key.revoked")]))
          : HttpResponse.json({ next: `${url.origin}/api/audit/?cursor=abc`, previous: null, results: [event(2, "key.created")] });
      }),
    ]);
    renderPage(<SettingsRoute />);
    expect(await screen.findByText("key.created")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Show older entries" }));
    expect(await screen.findByText("key.revoked")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Show older entries" })).not.toBeInTheDocument();

    // A filter by area: the API's repeatable `action` parameter.
    const audit = within(screen.getByRole("region", { name: "Audit trail" }));
    await user.selectOptions(audit.getByLabelText("Show"), "keys");
    await waitFor(() => expect(seen.at(-1)!.getAll("action")).toEqual(["key.created", "key.changed", "key.rotated", "key.revoked"]));
  });

  it("revokes an authorized app with the login session and CSRF, never the Bearer token", async () => {
    const user = userEvent.setup();
    let sent: { auth: string | null; csrf: string | null; id: unknown } | null = null;
    const grant = {
      client_id: "app-1",
      name: "Notes",
      logo_url: "",
      organization: "Acme",
      scopes: ["openid", "profile", "inference"],
      first_authorized_at: "2026-03-01T00:00:00Z",
      last_authorized_at: "2026-03-02T00:00:00Z",
      keys: 1,
    };
    ownerApi([
      http.get("/api/auth/grants", () => HttpResponse.json({ results: sent ? [] : [grant] })),
      http.get("/api/auth/csrf", () => HttpResponse.json({ csrf_token: "csrf-1" })),
      http.delete("/api/auth/grants/:id", ({ request, params }) => {
        sent = { auth: request.headers.get("authorization"), csrf: request.headers.get("x-csrftoken"), id: params.id };
        return new HttpResponse(null, { status: 204 });
      }),
    ]);
    renderPage(<SettingsRoute />);
    await user.click(await screen.findByRole("button", { name: "Revoke Notes" }));
    expect(screen.getByRole("dialog", { name: "Revoke “Notes”?" })).toHaveTextContent("the 1 API key it holds in your name are revoked");
    await user.click(screen.getByRole("button", { name: "Revoke access" }));
    expect(await screen.findByText("No authorized apps")).toBeInTheDocument();
    expect(sent).toEqual({ auth: null, csrf: "csrf-1", id: "app-1" });
  });

  it("shows a viewer no controls and asks nothing a viewer may not see", async () => {
    const forbidden = vi.fn(() => envelope(403, "permission_denied", "no"));
    server.use(
      meHandler(aMe("viewer")),
      http.get("/api/organization/members", () => HttpResponse.json(page(members))),
      limitsHandler(),
      http.get("/api/usage/retention", () => HttpResponse.json(retention)),
      http.get("/api/auth/grants", () => HttpResponse.json({ results: [] })),
      http.get("/api/organization/invitations", forbidden),
      http.get("/api/audit/", forbidden),
      http.get("/api/organization/apps", forbidden),
    );
    renderPage(<SettingsRoute />);
    expect(await screen.findByRole("rowheader", { name: /bob@example.com/ })).toBeInTheDocument();
    expect(screen.queryByLabelText("Role of bob@example.com")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Remove/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("heading", { name: "Invitations" })).not.toBeInTheDocument();
    expect(screen.queryByRole("heading", { name: "Audit trail" })).not.toBeInTheDocument();
    expect(await screen.findByText("none")).toBeInTheDocument(); // the budget, read-only
    expect(screen.queryByRole("button", { name: "Edit limits" })).not.toBeInTheDocument();
    expect(screen.getByText("your role")).toBeInTheDocument();
    expect(forbidden).not.toHaveBeenCalled();
  });

  it("shows the API's 404 envelope in words", async () => {
    ownerApi([http.get("/api/organization/members", () => envelope(404, "organization_not_found", "No such organization, or you are not a member of it."))]);
    renderPage(<SettingsRoute />);
    expect(await screen.findByText("No such organization, or you are not a member of it.")).toBeInTheDocument();
  });
});
