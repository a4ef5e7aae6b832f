import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";
import type { Me } from "../api/get-me";
import { AccountStatus } from "./account-status";

const me = (status: Me["status"]): Me => ({
  id: "u1", email: "carol@example.com", name: "", status, approved: status !== "pending_approval",
  email_verified: status === "active", is_staff: false, date_joined: "2026-01-01T00:00:00Z", organizations: [],
});

describe("the account status", () => {
  it("explains a pending approval", () => {
    renderPage(<AccountStatus me={me("pending_approval")} />);
    expect(screen.getByText(/waiting for approval/)).toBeInTheDocument();
  });

  it("re-sends the verification link with the login session, never the Bearer token", async () => {
    const user = userEvent.setup();
    let sent: { auth: string | null; csrf: string | null } | null = null;
    server.use(
      http.get("/api/auth/csrf", () => HttpResponse.json({ csrf_token: "csrf-1" })),
      http.post("/api/auth/verify-email/resend", ({ request }) => {
        sent = { auth: request.headers.get("authorization"), csrf: request.headers.get("x-csrftoken") };
        return HttpResponse.json({ detail: "A new link is on its way." }, { status: 202 });
      }),
    );
    renderPage(<AccountStatus me={me("pending_verification")} />);
    expect(screen.getByText("carol@example.com")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Send a new link" }));
    expect(await screen.findByText(/A new link is on its way/)).toBeInTheDocument();
    expect(sent).toEqual({ auth: null, csrf: "csrf-1" });
  });

  it("says what to do when the login session is gone", async () => {
    const user = userEvent.setup();
    server.use(
      http.get("/api/auth/csrf", () => HttpResponse.json({ csrf_token: "csrf-1" })),
      http.post("/api/auth/verify-email/resend", () =>
        HttpResponse.json({ error: { code: "not_authenticated", message: "Authentication credentials were not provided.", details: {} } }, { status: 403 }),
      ),
    );
    renderPage(<AccountStatus me={me("pending_verification")} />);
    await user.click(screen.getByRole("button", { name: "Send a new link" }));
    expect(await screen.findByText(/Log out, log in again, and retry/)).toBeInTheDocument();
  });
});
