import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { describe, expect, it, vi } from "vitest";
import { envelope } from "@/testing/fixtures";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";
import type { OAuthApp } from "../api/get-apps";
import { OrganizationApps } from "./organization-apps";

const app: OAuthApp = {
  client_id: "Zx81clientid",
  name: "Notes",
  client_type: "confidential",
  redirect_uris: ["https://notes.example.com/callback"],
  post_logout_redirect_uris: [],
  logo_url: "",
  created_by: "alice@example.com",
  created_at: "2026-03-01T00:00:00Z",
  updated_at: "2026-03-01T00:00:00Z",
};

describe("the organization's OAuth apps", () => {
  it("registers an app and shows its client secret once", async () => {
    const user = userEvent.setup();
    let body: unknown = null;
    let apps: OAuthApp[] = [];
    server.use(
      http.get("/api/organization/apps", () => HttpResponse.json({ next: null, previous: null, results: apps })),
      http.post("/api/organization/apps", async ({ request }) => {
        body = await request.json();
        apps = [app];
        return HttpResponse.json({ ...app, client_secret: "s3cret-shown-once" }, { status: 201 });
      }),
    );
    renderPage(<OrganizationApps />);
    await user.click(await screen.findByRole("button", { name: "Register an app" }));
    const dialog = screen.getByRole("dialog", { name: "Register an OAuth app" });
    expect(within(dialog).getByLabelText("Name")).toHaveFocus();
    await user.type(within(dialog).getByLabelText("Name"), "Notes");
    await user.type(within(dialog).getByLabelText("Redirect URIs"), "https://notes.example.com/callback{Enter}http://127.0.0.1:8080/cb");
    await user.click(within(dialog).getByRole("button", { name: "Register app" }));
    const done = await screen.findByRole("dialog", { name: "“Notes” is registered" });
    expect(within(done).getByTestId("client-secret")).toHaveTextContent("s3cret-shown-once");
    expect(body).toEqual({
      name: "Notes",
      client_type: "confidential",
      redirect_uris: ["https://notes.example.com/callback", "http://127.0.0.1:8080/cb"],
      post_logout_redirect_uris: [],
      logo_url: "",
    });
    await user.click(within(done).getByRole("button", { name: "I have stored it" }));
    expect(screen.queryByText("s3cret-shown-once")).not.toBeInTheDocument();
    expect(await screen.findByRole("rowheader", { name: "Notes" })).toBeInTheDocument();
  });

  it("names the refused field", async () => {
    const user = userEvent.setup();
    server.use(
      http.get("/api/organization/apps", () => HttpResponse.json({ next: null, previous: null, results: [] })),
      http.post("/api/organization/apps", () =>
        envelope(400, "invalid_request", "The request is not valid.", { redirect_uris: ["Use https, or http on a loopback address."] }),
      ),
    );
    renderPage(<OrganizationApps />);
    await user.click(await screen.findByRole("button", { name: "Register an app" }));
    await user.type(screen.getByLabelText("Name"), "Notes");
    await user.type(screen.getByLabelText("Redirect URIs"), "http://notes.example.com/cb");
    await user.click(screen.getByRole("button", { name: "Register app" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The request is not valid. redirect_uris: Use https, or http on a loopback address.");
  });

  it("deletes an app only after confirmation", async () => {
    const user = userEvent.setup();
    const remove = vi.fn(() => new HttpResponse(null, { status: 204 }));
    server.use(
      http.get("/api/organization/apps", () => HttpResponse.json({ next: null, previous: null, results: [app] })),
      http.delete("/api/organization/apps/:id", remove),
    );
    renderPage(<OrganizationApps />);
    await user.click(await screen.findByRole("button", { name: "Delete Notes" }));
    await user.click(within(screen.getByRole("dialog", { name: "Delete “Notes”?" })).getByRole("button", { name: "Cancel" }));
    expect(remove).not.toHaveBeenCalled();
    await user.click(screen.getByRole("button", { name: "Delete Notes" }));
    await user.click(screen.getByRole("button", { name: "Delete app" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(remove).toHaveBeenCalledTimes(1);
  });
});
