import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { afterEach, describe, expect, it, vi } from "vitest";
import HistoryRoute from "@/app/routes/history";
import { aKey, aMe, envelope, keysHandler, meHandler } from "@/testing/fixtures";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";
import type { Chat } from "../api/get-chats";

const KEY = aKey();
const OTHER_KEY = aKey({ id: "4b0c5c0e-0000-4000-8000-000000000002", name: "nightly", prefix: "sk-zzz999" });

function aChat(n: number, overrides: Partial<Chat> = {}): Chat {
  return {
    call_id: `call-${n}`,
    created_at: `2026-03-0${1 + (n % 9)}T10:00:00Z`,
    key_id: KEY.id,
    model: "smollm2",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: `Question ${n}?` },
    ],
    response: { id: `chatcmpl-${n}`, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: `Answer ${n}.` }, finish_reason: "stop" }] },
    ...overrides,
  };
}

/** GET /api/chats/ with the API's cursor pagination: `next` is a full URL with an opaque cursor. */
function chatsHandler(pages: Chat[][], seen: URLSearchParams[] = []) {
  return http.get("/api/chats/", ({ request }) => {
    const url = new URL(request.url);
    seen.push(url.searchParams);
    const index = Number(url.searchParams.get("cursor") ?? "0");
    const next = index + 1 < pages.length ? `${url.origin}/api/chats/?cursor=${index + 1}&limit=20` : null;
    return HttpResponse.json({ next, previous: null, results: pages[index] ?? [] });
  });
}

afterEach(() => vi.unstubAllGlobals());

describe("the history page", () => {
  it("lists chats with prompt, reply and key, and loads older ones", async () => {
    const user = userEvent.setup();
    const seen: URLSearchParams[] = [];
    server.use(meHandler(), keysHandler([KEY]), chatsHandler([[aChat(1), aChat(2)], [aChat(3)]], seen));
    renderPage(<HistoryRoute />);
    const items = await screen.findAllByTestId("chat-item");
    expect(items).toHaveLength(2);
    expect(within(items[0]!).getByText("Question 1?", { selector: "p" })).toBeInTheDocument();
    expect(within(items[0]!).getByText("Answer 1.")).toBeInTheDocument();
    expect(await within(items[0]!).findByText(/billing-service \(sk-abc123…\)/)).toBeInTheDocument();
    expect(seen[0]!.get("limit")).toBe("20");

    await user.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(screen.getAllByTestId("chat-item")).toHaveLength(3));
    expect(seen[1]!.get("cursor")).toBe("1");
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
    expect(screen.getByText("That is every chat.")).toBeInTheDocument();
  });

  it("loads the next page when the end of the list scrolls into view", async () => {
    let observed: ((entries: { isIntersecting: boolean }[]) => void) | null = null;
    vi.stubGlobal(
      "IntersectionObserver",
      class {
        constructor(callback: (entries: { isIntersecting: boolean }[]) => void) {
          observed = callback;
        }
        observe() {}
        disconnect() {}
      },
    );
    server.use(meHandler(), keysHandler([KEY]), chatsHandler([[aChat(1)], [aChat(2)]]));
    renderPage(<HistoryRoute />);
    await screen.findAllByTestId("chat-item");
    await waitFor(() => expect(observed).not.toBeNull());
    observed!([{ isIntersecting: true }]);
    await waitFor(() => expect(screen.getAllByTestId("chat-item")).toHaveLength(2));
  });

  it("filters by key and by UTC dates (the last day included)", async () => {
    const user = userEvent.setup();
    const seen: URLSearchParams[] = [];
    server.use(meHandler(), keysHandler([KEY, OTHER_KEY]), chatsHandler([[aChat(1)]], seen));
    renderPage(<HistoryRoute />);
    await screen.findAllByTestId("chat-item");
    await user.selectOptions(await screen.findByLabelText("API key"), OTHER_KEY.id);
    await waitFor(() => expect(seen.at(-1)!.get("key")).toBe(OTHER_KEY.id));
    await user.type(screen.getByLabelText("From (UTC)"), "2026-03-01");
    await user.type(screen.getByLabelText("To (UTC, included)"), "2026-03-02");
    await waitFor(() => expect(seen.at(-1)!.get("end")).toBe("2026-03-03T00:00:00Z"));
    expect(seen.at(-1)!.get("start")).toBe("2026-03-01T00:00:00Z");
    expect(seen.at(-1)!.get("key")).toBe(OTHER_KEY.id);

    await user.click(screen.getByRole("button", { name: "Clear filters" }));
    await waitFor(() => expect(seen.at(-1)!.has("key")).toBe(false));
  });

  it("explains an empty history, and an empty filtered one", async () => {
    const user = userEvent.setup();
    server.use(meHandler(), keysHandler([KEY]), chatsHandler([[]]));
    renderPage(<HistoryRoute />);
    expect(await screen.findByText("No chats kept yet")).toBeInTheDocument();
    await user.type(screen.getByLabelText("From (UTC)"), "2026-03-01");
    expect(await screen.findByText("No chats match these filters")).toBeInTheDocument();
  });

  it("shows the API's refusal in words, and offers no key filter to a role without keys", async () => {
    const keys = vi.fn(() => HttpResponse.json({ next: null, previous: null, results: [] }));
    server.use(
      meHandler(aMe("viewer")),
      http.get("/api/keys/", keys),
      http.get("/api/chats/", () => envelope(403, "permission_denied", "Your role (viewer) may not do this.")),
    );
    renderPage(<HistoryRoute />);
    expect(await screen.findByText("Your role (viewer) may not do this.")).toBeInTheDocument();
    expect(screen.queryByLabelText("API key")).not.toBeInTheDocument();
    expect(keys).not.toHaveBeenCalled();
  });

  it("downloads a CSV export with the Bearer token, the filters and the server's file name", async () => {
    const user = userEvent.setup();
    let request: { auth: string | null; params: URLSearchParams } | null = null;
    const csv = "created_at,call_id,key_id,model,messages,response\n2026-03-01T10:00:00.000000Z,call-1,k,smollm2,[],{}\n";
    server.use(
      meHandler(),
      keysHandler([KEY]),
      chatsHandler([[aChat(1)]]),
      http.get("/api/chats/export", ({ request: r }) => {
        request = { auth: r.headers.get("authorization"), params: new URL(r.url).searchParams };
        return new HttpResponse(csv, {
          headers: { "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": 'attachment; filename="chats-org-20260301T100000Z.csv"' },
        });
      }),
    );
    const blobs: Blob[] = [];
    const createObjectURL = vi.fn((blob: Blob) => {
      blobs.push(blob);
      return "blob:http://localhost/1";
    });
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() }));
    const clicks: { href: string; download: string }[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push({ href: this.href, download: this.download });
    });

    renderPage(<HistoryRoute />);
    await screen.findAllByTestId("chat-item");
    await user.selectOptions(await screen.findByLabelText("API key"), KEY.id);
    await user.click(screen.getByRole("button", { name: "Export CSV" }));
    await waitFor(() => expect(click).toHaveBeenCalledTimes(1));
    expect(clicks[0]).toEqual({ href: "blob:http://localhost/1", download: "chats-org-20260301T100000Z.csv" });
    expect(await blobs[0]!.text()).toBe(csv);
    expect(request!.auth).toBe("Bearer access-1");
    expect(request!.params.get("format")).toBe("csv");
    expect(request!.params.get("key")).toBe(KEY.id);
    expect(await screen.findByText("Downloaded chats-org-20260301T100000Z.csv")).toBeInTheDocument();
  });

  it("exports JSON, and shows a failed export's envelope in words", async () => {
    const user = userEvent.setup();
    let format: string | null = null;
    server.use(
      meHandler(),
      keysHandler([KEY]),
      chatsHandler([[aChat(1)]]),
      http.get("/api/chats/export", ({ request }) => {
        format = new URL(request.url).searchParams.get("format");
        return envelope(400, "invalid_request", "The request is not valid.", { end: ["Must be after start."] });
      }),
    );
    renderPage(<HistoryRoute />);
    await screen.findAllByTestId("chat-item");
    await user.click(screen.getByRole("button", { name: "Export JSON" }));
    expect(await screen.findByText("The request is not valid. end: Must be after start.")).toBeInTheDocument();
    expect(format).toBe("json");
  });
});
