import axios from "axios";
import { useMutation } from "@tanstack/react-query";
import { env } from "@/config/env";
import { toApiError } from "@/lib/errors";

export type ChatRequest = { key: string; model: string; system: string; prompt: string; maxTokens: number; temperature: number };

export type ChatReply = {
  content: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  elapsedMs: number;
};

// /v1 takes an sk- key, never the portal's token: a client of its own.
const inference = axios.create({ baseURL: env.VITE_API_URL || "" });

type OpenAiError = { error?: { message?: string; code?: string } };

export async function chatCompletion(request: ChatRequest): Promise<ChatReply> {
  const started = performance.now();
  const messages = [
    ...(request.system.trim() ? [{ role: "system", content: request.system }] : []),
    { role: "user", content: request.prompt },
  ];
  try {
    const response = await inference.post(
      "/v1/chat/completions",
      { model: request.model, messages, max_tokens: request.maxTokens, temperature: request.temperature },
      { headers: { Authorization: `Bearer ${request.key}` } },
    );
    const body = response.data as { choices: { message: { content: string } }[]; usage?: ChatReply["usage"] };
    return { content: body.choices[0]?.message.content ?? "", usage: body.usage ?? null, elapsedMs: performance.now() - started };
  } catch (e) {
    const body = axios.isAxiosError(e) ? (e.response?.data as OpenAiError | undefined) : undefined;
    const message = body?.error?.message;
    if (message) throw new Error(message, { cause: e }); // OpenAI-style errors: {"error": {"message", "type", "code"}}
    throw toApiError(e);
  }
}

export const useChatCompletion = () => useMutation({ mutationFn: chatCompletion });
