import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { ResetPasswordRoute } from "@/app/routes/reset-password";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";

const csrf = () => http.get("/api/auth/csrf", () => HttpResponse.json({ csrf_token: "csrf-1" }));

describe("the reset-password page", () => {
  it("without a token, asks for a link by address (session and CSRF, no Bearer token)", async () => {
    const user = userEvent.setup();
    let sent: { body: unknown; auth: string | null; csrf: string | null } | null = null;
    server.use(
      csrf(),
      http.post("/api/auth/password-reset", async ({ request }) => {
        sent = { body: await request.json(), auth: request.headers.get("authorization"), csrf: request.headers.get("x-csrftoken") };
        return HttpResponse.json({ detail: "If the address has an account, a link to reset its password is on its way." }, { status: 202 });
      }),
    );
    renderPage(<ResetPasswordRoute />, { path: "/reset-password" });
    expect(screen.getByRole("heading", { name: "Reset your password", level: 1 })).toBeInTheDocument();
    await user.type(screen.getByLabelText("Email"), " carol@example.com ");
    await user.click(screen.getByRole("button", { name: "Mail me a reset link" }));
    expect(await screen.findByText(/a link to reset its password is on its way/)).toBeInTheDocument();
    expect(sent).toEqual({ body: { email: "carol@example.com" }, auth: null, csrf: "csrf-1" });
  });

  it("shows the API's refusal of an address in words, by the field", async () => {
    const user = userEvent.setup();
    server.use(
      csrf(),
      http.post("/api/auth/password-reset", () =>
        HttpResponse.json({ error: { code: "invalid_request", message: "The request is invalid.", details: { email: ["Enter a valid email address."] } } }, { status: 400 }),
      ),
    );
    renderPage(<ResetPasswordRoute />, { path: "/reset-password" });
    await user.type(screen.getByLabelText("Email"), "nope");
    await user.click(screen.getByRole("button", { name: "Mail me a reset link" }));
    expect(await screen.findByText("Enter a valid email address.")).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveAttribute("aria-invalid", "true");
  });

  it("with the mail's token, sets the new password and offers to log in", async () => {
    const user = userEvent.setup();
    let body: unknown = null;
    server.use(
      csrf(),
      http.post("/api/auth/password-reset/confirm", async ({ request }) => {
        body = await request.json();
        return new HttpResponse(null, { status: 204 });
      }),
    );
    renderPage(<ResetPasswordRoute />, { path: "/reset-password?token=tok-9" });
    expect(screen.getByRole("heading", { name: "Choose a new password", level: 1 })).toBeInTheDocument();
    await user.type(screen.getByLabelText("New password"), "a long new passphrase");
    await user.type(screen.getByLabelText("Repeat the new password"), "a long new passphrase");
    await user.click(screen.getByRole("button", { name: "Set the new password" }));
    expect(await screen.findByText("Your password is changed.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Log in" })).toBeInTheDocument();
    expect(body).toEqual({ token: "tok-9", password: "a long new passphrase" });
  });

  it("refuses two different passwords before asking the API", async () => {
    const user = userEvent.setup();
    let calls = 0;
    server.use(
      csrf(),
      http.post("/api/auth/password-reset/confirm", () => {
        calls += 1;
        return new HttpResponse(null, { status: 204 });
      }),
    );
    renderPage(<ResetPasswordRoute />, { path: "/reset-password?token=tok-9" });
    await user.type(screen.getByLabelText("New password"), "one passphrase here");
    await user.type(screen.getByLabelText("Repeat the new password"), "another passphrase");
    await user.click(screen.getByRole("button", { name: "Set the new password" }));
    expect(screen.getByText("The two passwords differ.")).toBeInTheDocument();
    expect(calls).toBe(0);
  });

  it("lists the password validators' words from the API", async () => {
    const user = userEvent.setup();
    server.use(
      csrf(),
      http.post("/api/auth/password-reset/confirm", () =>
        HttpResponse.json(
          {
            error: {
              code: "invalid_request",
              message: "Choose a stronger password.",
              details: { password: ["This password is too short. It must contain at least 10 characters.", "This password is too common."] },
            },
          },
          { status: 400 },
        ),
      ),
    );
    renderPage(<ResetPasswordRoute />, { path: "/reset-password?token=tok-9" });
    await user.type(screen.getByLabelText("New password"), "password");
    await user.type(screen.getByLabelText("Repeat the new password"), "password");
    await user.click(screen.getByRole("button", { name: "Set the new password" }));
    expect(await screen.findByText(/This password is too short/)).toBeInTheDocument();
    expect(screen.getByText("This password is too common.")).toBeInTheDocument();
    expect(screen.getByLabelText("New password")).toHaveAttribute("aria-invalid", "true");
  });

  it("explains an expired link and asks for a new one in place", async () => {
    const user = userEvent.setup();
    server.use(
      csrf(),
      http.post("/api/auth/password-reset/confirm", () =>
        HttpResponse.json({ error: { code: "token_expired", message: "This link has expired; ask for a new one.", details: {} } }, { status: 400 }),
      ),
    );
    renderPage(<ResetPasswordRoute />, { path: "/reset-password?token=old" });
    await user.type(screen.getByLabelText("New password"), "a long new passphrase");
    await user.type(screen.getByLabelText("Repeat the new password"), "a long new passphrase");
    await user.click(screen.getByRole("button", { name: "Set the new password" }));
    expect(await screen.findByText(/This reset link has expired/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Mail me a reset link" })).toBeInTheDocument();
  });
});
