import type { ChatUsage } from "../types";
import { inferenceClient } from "./openai-client";

export type ChatRequest = {
  secret: string;
  model: string;
  system: string;
  prompt: string;
  temperature: number;
  maxTokens: number;
  signal: AbortSignal;
};

export type StreamEvents = {
  /** The first content arrived, `ms` after the request was sent. */
  onFirstToken: (ms: number) => void;
  onDelta: (text: string) => void;
};

export type ChatResult = { usage: ChatUsage | null; finishReason: string | null; elapsedMs: number };

/** One streamed chat completion through the OpenAI SDK (SSE), usage included in the last chunk. */
export async function streamChat(request: ChatRequest, events: StreamEvents): Promise<ChatResult> {
  const started = performance.now();
  const messages = [
    ...(request.system.trim() ? [{ role: "system" as const, content: request.system }] : []),
    { role: "user" as const, content: request.prompt },
  ];
  const stream = await inferenceClient(request.secret).chat.completions.create(
    {
      model: request.model,
      messages,
      temperature: request.temperature,
      max_tokens: request.maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    },
    { signal: request.signal },
  );
  let first = true;
  let usage: ChatUsage | null = null;
  let finishReason: string | null = null;
  for await (const chunk of stream) {
    if (request.signal.aborted) break; // stopped: the rest is not wanted
    const choice = chunk.choices[0];
    const text = choice?.delta?.content ?? "";
    if (text) {
      if (first) events.onFirstToken(performance.now() - started);
      first = false;
      events.onDelta(text);
    }
    if (choice?.finish_reason) finishReason = choice.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  return { usage, finishReason, elapsedMs: performance.now() - started };
}
