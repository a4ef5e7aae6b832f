import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { http, HttpResponse } from "msw";
import { afterEach, describe, expect, it } from "vitest";
import PlaygroundRoute from "@/app/routes/playground";
import { env } from "@/config/env";
import { renderPage } from "@/testing/render";
import { server } from "@/testing/server";
import { usePlaygroundKeyStore } from "../stores/playground-key";
import type { PlaygroundKey } from "../types";

const inAQuarter = () => new Date(Date.now() + 15 * 60_000).toISOString();

function aKey(overrides: Partial<PlaygroundKey> = {}): PlaygroundKey {
  return {
    id: "7f0c5c0e-0000-4000-8000-000000000001",
    prefix: "sk-play123",
    secret: "sk-play123-secret-one",
    expires_at: inAQuarter(),
    budget_usd: "0.500000",
    store_chats: true,
    models: [
      { name: "smollm2", input_price_per_mtok: "0.100000", output_price_per_mtok: "0.200000" },
      { name: "tiny", input_price_per_mtok: "1.500000", output_price_per_mtok: "2.500000" },
    ],
    ...overrides,
  };
}

/** What LiteLLM sends: `data: {chunk}` events, the usage in a last chunk with no choices, `data: [DONE]`. */
function sse(chunks: object[], { hold }: { hold?: Promise<void> } = {}) {
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const [i, chunk] of chunks.entries()) {
        if (hold && i === 1) await hold;
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`));
      }
      controller.enqueue(encoder.encode("data: [DONE]\n\n"));
      controller.close();
    },
  });
  return new HttpResponse(stream, { headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" } });
}

const chunk = (content: string | null, extra: object = {}) => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1_764_900_000,
  model: "smollm2",
  choices: [{ index: 0, delta: content === null ? {} : { role: "assistant", content }, finish_reason: null, ...extra }],
});
const usageChunk = {
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1_764_900_000,
  model: "smollm2",
  choices: [],
  usage: { prompt_tokens: 1000, completion_tokens: 2000, total_tokens: 3000 },
};

function handlers({ keys = [aKey()], models = ["tiny", "all-minilm-l6-v2", "smollm2"] } = {}) {
  const issued: PlaygroundKey[] = [...keys];
  const calls = { keys: 0, modelAuth: [] as string[] };
  server.use(
    http.post("/api/keys/playground", () => {
      calls.keys += 1;
      return HttpResponse.json(issued.shift() ?? aKey(), { status: 201 });
    }),
    http.get("*/v1/models", ({ request }) => {
      calls.modelAuth.push(request.headers.get("Authorization") ?? "");
      return HttpResponse.json({ object: "list", data: models.map((id) => ({ id, object: "model", created: 0, owned_by: "llmaas" })) });
    }),
  );
  return calls;
}

afterEach(() => usePlaygroundKeyStore.getState().clear());

describe("the playground", () => {
  it("gets a playground key, lists its models and streams a reply with first-token, done, tokens and cost", async () => {
    const user = userEvent.setup();
    const calls = handlers();
    let body: Record<string, unknown> = {};
    let auth = "";
    server.use(
      http.post("*/v1/chat/completions", async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        auth = request.headers.get("Authorization") ?? "";
        return sse([chunk("Hello"), chunk(" there"), chunk("!"), chunk(null, { finish_reason: "stop" }), usageChunk]);
      }),
    );
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    expect(await screen.findByText(/Playground key sk-play123… \(kept in this page only\)/)).toBeInTheDocument();
    const select = await screen.findByLabelText("Model");
    // The key's chat models only: /v1/models also lists the embedding model.
    expect(within(select).getAllByRole("option").map((o) => o.textContent)).toEqual(["smollm2", "tiny"]);
    expect(calls.modelAuth).toEqual(["Bearer sk-play123-secret-one"]);

    await user.type(screen.getByLabelText("System prompt"), "Be brief.");
    await user.type(screen.getByLabelText("Message"), "Say hi");
    await user.clear(screen.getByLabelText("Max tokens"));
    await user.type(screen.getByLabelText("Max tokens"), "32");
    await user.click(screen.getByRole("button", { name: "Send" }));

    expect(await screen.findByTestId("chat-done")).toHaveTextContent(/Done in .* \(stop\)/);
    expect(screen.getByTestId("first-token")).toHaveTextContent(/First token in \d+ ms/);
    expect(screen.getByTestId("chat-reply")).toHaveTextContent("Hello there!");
    // 1000 × $0.10 + 2000 × $0.20 per million tokens
    expect(screen.getByTestId("chat-usage")).toHaveTextContent("1,000 prompt + 2,000 completion tokens · $0.000500");
    expect(auth).toBe("Bearer sk-play123-secret-one");
    expect(body).toMatchObject({
      model: "smollm2",
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 32,
      temperature: 0.7,
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Say hi" },
      ],
    });
    expect(calls.keys).toBe(1);
    // In memory only: nothing of the key in the browser's storage.
    expect(JSON.stringify({ ...localStorage })).not.toContain("sk-play123");
    expect(JSON.stringify({ ...sessionStorage })).not.toContain("sk-play123");
  });

  it("stops a stream with the stop button and keeps what came", async () => {
    const user = userEvent.setup();
    handlers();
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    server.use(http.post("*/v1/chat/completions", () => sse([chunk("Once upon"), chunk(" a time"), usageChunk], { hold })));
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    await user.type(await screen.findByLabelText("Message"), "A story");
    await user.click(screen.getByRole("button", { name: "Send" }));
    expect(await screen.findByTestId("first-token")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Streaming…" })).toBeDisabled();
    await user.click(screen.getByRole("button", { name: "Stop" }));
    expect(await screen.findByText("Stopped")).toBeInTheDocument();
    release();
    expect(screen.getByTestId("chat-reply")).toHaveTextContent(/^Once upon$/);
    expect(screen.queryByTestId("chat-done")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Send" })).toBeEnabled();
  });

  it("shows an OpenAI-style error in words", async () => {
    const user = userEvent.setup();
    handlers();
    server.use(
      http.post("*/v1/chat/completions", () =>
        HttpResponse.json(
          { error: { message: "Budget exceeded for key sk-play123…: $0.50 lifetime.", type: "insufficient_quota", code: "insufficient_quota" } },
          { status: 429 },
        ),
      ),
    );
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    await user.type(await screen.findByLabelText("Message"), "Hi");
    await user.click(screen.getByRole("button", { name: "Send" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Budget exceeded for key sk-play123…: $0.50 lifetime.");
  });

  it("replaces an expired key (401) with a new one and sends again", async () => {
    const user = userEvent.setup();
    const calls = handlers({ keys: [aKey(), aKey({ id: "7f0c5c0e-0000-4000-8000-000000000002", prefix: "sk-play456", secret: "sk-play456-secret-two" })] });
    const seen: string[] = [];
    server.use(
      http.post("*/v1/chat/completions", ({ request }) => {
        const auth = request.headers.get("Authorization") ?? "";
        seen.push(auth);
        if (auth.endsWith("secret-one")) {
          return HttpResponse.json({ error: { message: "The API key sk-play123… has expired.", type: "invalid_request_error", code: "invalid_api_key" } }, { status: 401 });
        }
        return sse([chunk("Fresh"), usageChunk]);
      }),
    );
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    await user.type(await screen.findByLabelText("Message"), "Hi");
    await user.click(screen.getByRole("button", { name: "Send" }));
    expect(await screen.findByTestId("chat-done")).toBeInTheDocument();
    expect(screen.getByTestId("chat-reply")).toHaveTextContent("Fresh");
    expect(seen).toEqual(["Bearer sk-play123-secret-one", "Bearer sk-play456-secret-two"]);
    expect(calls.keys).toBe(2);
    expect(usePlaygroundKeyStore.getState().key?.prefix).toBe("sk-play456");
  });

  it("gets a new key when the one in memory is about to expire", async () => {
    usePlaygroundKeyStore.getState().setKey(aKey({ prefix: "sk-old0000", expires_at: new Date(Date.now() + 5_000).toISOString() }), "personal");
    const calls = handlers();
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    expect(await screen.findByText(/Playground key sk-play123…/)).toBeInTheDocument();
    expect(calls.keys).toBe(1);
  });

  it("renews the key a minute before it expires and keeps the form as it is", async () => {
    const user = userEvent.setup();
    // In memory: a key with 62 s left, so the renewal is due about 3 s from now.
    usePlaygroundKeyStore.getState().setKey(aKey({ prefix: "sk-old0000", expires_at: new Date(Date.now() + 62_000).toISOString() }), "personal");
    const calls = handlers({ keys: [aKey({ prefix: "sk-new0000", secret: "sk-new0000-secret" })] });
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    expect(await screen.findByText(/Playground key sk-old0000…/)).toBeInTheDocument();
    expect(calls.keys).toBe(0);
    await user.type(await screen.findByLabelText("Message"), "Half-written");
    expect(await screen.findByText(/Playground key sk-new0000…/, {}, { timeout: 6_000 })).toBeInTheDocument();
    expect(calls.keys).toBe(1);
    expect(screen.getByLabelText("Message")).toHaveValue("Half-written");
    expect(calls.modelAuth).toHaveLength(1); // the model list is kept too
  }, 10_000);

  it("limits the message's size before sending (VITE_PLAYGROUND_MAX_PROMPT_CHARS)", async () => {
    const user = userEvent.setup();
    handlers();
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    const message = await screen.findByLabelText("Message");
    await user.click(message);
    await user.paste("x".repeat(env.VITE_PLAYGROUND_MAX_PROMPT_CHARS + 1));
    expect(message).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText(/too long, shorten the message/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Send" })).toBeDisabled();
  });

  it("explains a refused playground key in words", async () => {
    server.use(
      http.post("/api/keys/playground", () =>
        HttpResponse.json(
          { error: { code: "account_pending_approval", message: "Your account is waiting for an operator's approval.", details: {} } },
          { status: 403 },
        ),
      ),
    );
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    expect(await screen.findByRole("alert")).toHaveTextContent("Your account is waiting for an operator's approval.");
    await waitFor(() => expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument());
  });

  it("says so when no model is available", async () => {
    handlers({ models: [] });
    renderPage(<PlaygroundRoute />, { path: "/playground" });
    expect(await screen.findByText("No model is available to this organization")).toBeInTheDocument();
  });
});
