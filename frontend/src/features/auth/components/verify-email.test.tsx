import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { VerifyEmailRoute } from "@/app/routes/verify-email";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";

const csrf = () => http.get("/api/auth/csrf", () => HttpResponse.json({ csrf_token: "csrf-1" }));
const refused = (code: string, message: string) =>
  http.post("/api/auth/verify-email", () => HttpResponse.json({ error: { code, message, details: {} } }, { status: 400 }));

describe("the verify-email page", () => {
  it("posts the link's token once, with CSRF and no Bearer token, and says the address is confirmed", async () => {
    const posted: { body: unknown; auth: string | null; csrf: string | null }[] = [];
    server.use(
      csrf(),
      http.post("/api/auth/verify-email", async ({ request }) => {
        posted.push({ body: await request.json(), auth: request.headers.get("authorization"), csrf: request.headers.get("x-csrftoken") });
        return HttpResponse.json({ email_verified: true });
      }),
    );
    renderPage(<VerifyEmailRoute />, { path: "/verify-email?token=tok-123" });
    expect(screen.getByRole("heading", { name: "Confirm your email address", level: 1 })).toBeInTheDocument();
    expect(await screen.findByText("Your email address is confirmed.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Log in and create a key" })).toBeInTheDocument();
    expect(posted).toEqual([{ body: { token: "tok-123" }, auth: null, csrf: "csrf-1" }]);
  });

  it("explains an expired link and re-sends a new one", async () => {
    const user = userEvent.setup();
    let resent = 0;
    server.use(
      csrf(),
      refused("token_expired", "This link has expired; ask for a new one."),
      http.post("/api/auth/verify-email/resend", () => {
        resent += 1;
        return HttpResponse.json({ detail: "A new link is on its way." }, { status: 202 });
      }),
    );
    renderPage(<VerifyEmailRoute />, { path: "/verify-email?token=old" });
    expect(await screen.findByText("This link has expired.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Send me a new link" }));
    expect(await screen.findByText(/A new link is on its way/)).toBeInTheDocument();
    expect(resent).toBe(1);
  });

  it("explains a used link and offers to log in", async () => {
    server.use(csrf(), refused("token_used", "This link has already been used."));
    renderPage(<VerifyEmailRoute />, { path: "/verify-email?token=used" });
    expect(await screen.findByText("This link has already been used.")).toBeInTheDocument();
    expect(screen.getByText(/your address is already confirmed: just log in/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Log in" })).toBeInTheDocument();
  });

  it("says what to do when a resend finds no login session", async () => {
    const user = userEvent.setup();
    server.use(
      csrf(),
      refused("token_invalid", "This link is not valid."),
      http.post("/api/auth/verify-email/resend", () =>
        HttpResponse.json({ error: { code: "not_authenticated", message: "Authentication credentials were not provided.", details: {} } }, { status: 403 }),
      ),
    );
    renderPage(<VerifyEmailRoute />, { path: "/verify-email?token=bad" });
    expect(await screen.findByText("This link is not valid.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Send me a new link" }));
    expect(await screen.findByText(/log in again, and retry/)).toBeInTheDocument();
  });

  it("without a token, explains where the link is and posts nothing", () => {
    renderPage(<VerifyEmailRoute />, { path: "/verify-email" });
    expect(screen.getByText(/Open the link from the mail/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Send a new link" })).toBeInTheDocument();
  });

  it("shows another failure in words with a retry", async () => {
    server.use(
      csrf(),
      http.post("/api/auth/verify-email", () =>
        HttpResponse.json({ error: { code: "service_unavailable", message: "The database is briefly unavailable.", details: {} } }, { status: 503 }),
      ),
    );
    renderPage(<VerifyEmailRoute />, { path: "/verify-email?token=t" });
    expect(await screen.findByText("The database is briefly unavailable.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });
});
