import { useId, useState, type FormEvent } from "react";
import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { env } from "@/config/env";
import { useOrganizationKey } from "@/lib/use-organization";
import { useModels } from "../api/get-models";
import { usePlaygroundKey } from "../api/playground-key";
import { usePlaygroundChat, type ChatState } from "../hooks/use-playground-chat";
import { callCost } from "../cost";
import type { PlaygroundModelPrice } from "../types";

const MAX_PROMPT = env.VITE_PLAYGROUND_MAX_PROMPT_CHARS;

const seconds = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);

export function Playground() {
  const key = usePlaygroundKey();
  const current = key.current;
  if (key.isPending && !current) return <Loading label="Getting a playground key…" />;
  if (!current) return <ErrorMessage error={key.error} onRetry={() => void key.refetch()} />;
  return (
    <div className="stack">
      <p className="muted" data-testid="playground-key">
        Playground key {current.prefix}… (kept in this page only) expires {formatDate(current.expires_at)} and may spend ${Number(current.budget_usd).toFixed(2)};
        {current.store_chats ? " its chats appear in History." : ""}
      </p>
      <PlaygroundForm secret={current.secret} prices={current.models} />
    </div>
  );
}

function PlaygroundForm({ secret, prices }: { secret: string; prices: PlaygroundModelPrice[] }) {
  const id = useId();
  const models = useModels(useOrganizationKey(), secret);
  const chat = usePlaygroundChat();
  const [model, setModel] = useState("");
  const [system, setSystem] = useState("");
  const [prompt, setPrompt] = useState("");
  const [maxTokens, setMaxTokens] = useState(128);
  const [temperature, setTemperature] = useState(0.7);
  if (models.isPending) return <Loading label="Loading models…" />;
  if (models.isError) return <ErrorMessage error={new Error(describeModelsError(models.error))} onRetry={() => void models.refetch()} />;
  // What /v1/models lists and the key's chat models (priced) both name: no embedding models here.
  const names = models.data.filter((name) => prices.some((p) => p.name === name));
  if (names.length === 0) return <Empty title="No model is available to this organization">Ask an administrator to allow one.</Empty>;
  const chosen = names.includes(model) ? model : names[0]!;
  const tooLong = prompt.length > MAX_PROMPT;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (tooLong || !prompt.trim() || chat.busy) return;
    void chat.send({ model: chosen, system, prompt, temperature, maxTokens });
  };
  return (
    <>
      <form className="form" onSubmit={submit}>
        <div className="grid-2">
          <div>
            <label htmlFor={`${id}-model`}>Model</label>
            <select id={`${id}-model`} value={chosen} onChange={(e) => setModel(e.target.value)}>
              {names.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor={`${id}-max`}>Max tokens</label>
            <input id={`${id}-max`} type="number" min={1} max={4096} required value={maxTokens} onChange={(e) => setMaxTokens(Number(e.target.value))} />
          </div>
          <div>
            <label htmlFor={`${id}-temp`}>Temperature</label>
            <input id={`${id}-temp`} type="number" min={0} max={2} step={0.1} required value={temperature} onChange={(e) => setTemperature(Number(e.target.value))} />
          </div>
        </div>
        <label htmlFor={`${id}-system`}>System prompt</label>
        <textarea id={`${id}-system`} rows={2} value={system} onChange={(e) => setSystem(e.target.value)} />
        <label htmlFor={`${id}-prompt`}>Message</label>
        <textarea
          id={`${id}-prompt`}
          rows={4}
          required
          aria-invalid={tooLong}
          aria-describedby={`${id}-count`}
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
        />
        <small id={`${id}-count`} className={tooLong ? "field-error" : undefined}>
          {prompt.length.toLocaleString()} / {MAX_PROMPT.toLocaleString()} characters{tooLong ? ": too long, shorten the message to send it" : ""}
        </small>
        <div className="dialog-actions">
          <button type="button" className="button" onClick={chat.stop} disabled={!chat.busy}>
            Stop
          </button>
          <button type="submit" className="button button-primary" disabled={chat.busy || tooLong}>
            {chat.busy ? "Streaming…" : "Send"}
          </button>
        </div>
      </form>
      <Reply state={chat.state} price={prices.find((p) => p.name === chosen)} />
    </>
  );
}

function describeModelsError(error: unknown): string {
  return error instanceof Error ? error.message.replace(/^\d{3} /, "") : "The models could not be listed.";
}

function Reply({ state, price }: { state: ChatState; price: PlaygroundModelPrice | undefined }) {
  if (state.status === "idle") return null;
  const cost = state.usage ? callCost(state.usage, price) : null;
  return (
    <div className="card playground-reply" aria-live="polite" aria-busy={state.status === "waiting" || state.status === "streaming"}>
      <p className="playground-indicators">
        {state.status === "waiting" ? <span className="badge">Waiting for the first token…</span> : null}
        {state.firstTokenMs !== null ? (
          <span className="badge" data-testid="first-token">
            First token in {seconds(state.firstTokenMs)}
          </span>
        ) : null}
        {state.status === "streaming" ? <span className="badge">Streaming…</span> : null}
        {state.status === "done" ? (
          <span className="badge badge-ok" data-testid="chat-done">
            Done in {seconds(state.elapsedMs ?? 0)}
            {state.finishReason ? ` (${state.finishReason === "length" ? "max tokens reached" : state.finishReason})` : ""}
          </span>
        ) : null}
        {state.status === "stopped" ? <span className="badge">Stopped</span> : null}
      </p>
      {state.reply ? <p className="reply" data-testid="chat-reply">{state.reply}</p> : null}
      {state.error ? (
        <p className="state-error" role="alert">
          {state.error}
        </p>
      ) : null}
      {state.usage ? (
        <p className="muted" data-testid="chat-usage">
          {state.usage.prompt_tokens.toLocaleString()} prompt + {state.usage.completion_tokens.toLocaleString()} completion tokens
          {cost !== null ? ` · $${cost.toFixed(6)}` : ""}
        </p>
      ) : null}
    </div>
  );
}
