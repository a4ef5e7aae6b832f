import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "@/lib/errors";
import { useOrganizationKey } from "@/lib/use-organization";
import { describeInferenceError, isAbort, isExpiredKey } from "../api/openai-client";
import { ensurePlaygroundKey } from "../api/playground-key";
import { streamChat, type ChatRequest } from "../api/stream-chat";
import type { ChatUsage } from "../types";

export type ChatStatus = "idle" | "waiting" | "streaming" | "done" | "stopped" | "error";

export type ChatState = {
  status: ChatStatus;
  reply: string;
  firstTokenMs: number | null;
  elapsedMs: number | null;
  usage: ChatUsage | null;
  finishReason: string | null;
  error: string | null;
};

const IDLE: ChatState = { status: "idle", reply: "", firstTokenMs: null, elapsedMs: null, usage: null, finishReason: null, error: null };

export type ChatInput = Omit<ChatRequest, "secret" | "signal">;

/** One streamed exchange at a time, with a stop button's abort. A key that expired or was
 * revoked meanwhile (401 before any token) is replaced once and the message sent again. */
export function usePlaygroundChat() {
  const organization = useOrganizationKey();
  const [state, setState] = useState<ChatState>(IDLE);
  const controller = useRef<AbortController | null>(null);
  useEffect(() => () => controller.current?.abort(), []); // leaving the page stops the stream

  const send = useCallback(
    async (input: ChatInput) => {
      controller.current?.abort();
      const abort = new AbortController();
      controller.current = abort;
      setState({ ...IDLE, status: "waiting" });
      // After a stop, whatever the network still delivers is dropped.
      const events = {
        onFirstToken: (ms: number) => !abort.signal.aborted && setState((s) => ({ ...s, status: "streaming", firstTokenMs: ms })),
        onDelta: (text: string) => !abort.signal.aborted && setState((s) => ({ ...s, reply: s.reply + text })),
      };
      const attempt = async (renew: boolean) => {
        const key = await ensurePlaygroundKey(organization, { renew });
        return streamChat({ ...input, secret: key.secret, signal: abort.signal }, events);
      };
      try {
        let result;
        try {
          result = await attempt(false);
        } catch (error) {
          if (!isExpiredKey(error) || abort.signal.aborted) throw error;
          result = await attempt(true);
        }
        if (!abort.signal.aborted) setState((s) => ({ ...s, status: "done", ...result }));
      } catch (error) {
        if (isAbort(error) || abort.signal.aborted) {
          setState((s) => ({ ...s, status: "stopped" }));
          return;
        }
        // A failure to get a key is the portal API's envelope; the model's is OpenAI-style.
        const words = error instanceof ApiError ? error.message : describeInferenceError(error);
        setState((s) => ({ ...s, status: "error", error: words }));
      } finally {
        if (controller.current === abort) controller.current = null;
      }
    },
    [organization],
  );

  const stop = useCallback(() => {
    if (!controller.current) return;
    controller.current.abort();
    controller.current = null;
    setState((s) => ({ ...s, status: "stopped" }));
  }, []);
  return { state, send, stop, busy: state.status === "waiting" || state.status === "streaming" };
}
