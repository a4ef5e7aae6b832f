import { useId, useState, type FormEvent } from "react";
import { ErrorMessage } from "@/components/ui/states";
import { useChatCompletion } from "../api/chat-completion";

const MAX_PROMPT = 8000; // characters, client-side

export function PlaygroundForm() {
  const id = useId();
  const chat = useChatCompletion();
  // The key stays in this component's memory: never stored, gone when you leave the page.
  const [key, setKey] = useState("");
  const [model, setModel] = useState("smollm2");
  const [system, setSystem] = useState("");
  const [prompt, setPrompt] = useState("");
  const [maxTokens, setMaxTokens] = useState(128);
  const [temperature, setTemperature] = useState(0.7);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    chat.mutate({ key: key.trim(), model: model.trim(), system, prompt, maxTokens, temperature });
  };
  return (
    <div className="stack">
      <form className="form" onSubmit={submit}>
        <label htmlFor={`${id}-key`}>API key</label>
        <input id={`${id}-key`} type="password" autoComplete="off" required placeholder="sk-…" value={key} onChange={(e) => setKey(e.target.value)} />
        <div className="grid-2">
          <div>
            <label htmlFor={`${id}-model`}>Model</label>
            <input id={`${id}-model`} required value={model} onChange={(e) => setModel(e.target.value)} />
          </div>
          <div>
            <label htmlFor={`${id}-max`}>Max tokens</label>
            <input id={`${id}-max`} type="number" min={1} max={4096} value={maxTokens} onChange={(e) => setMaxTokens(Number(e.target.value))} />
          </div>
          <div>
            <label htmlFor={`${id}-temp`}>Temperature</label>
            <input id={`${id}-temp`} type="number" min={0} max={2} step={0.1} value={temperature} onChange={(e) => setTemperature(Number(e.target.value))} />
          </div>
        </div>
        <label htmlFor={`${id}-system`}>System prompt</label>
        <textarea id={`${id}-system`} rows={2} value={system} onChange={(e) => setSystem(e.target.value)} />
        <label htmlFor={`${id}-prompt`}>Message</label>
        <textarea id={`${id}-prompt`} rows={4} required maxLength={MAX_PROMPT} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        <small>
          {prompt.length} / {MAX_PROMPT} characters
        </small>
        <div className="dialog-actions">
          <button type="submit" className="button button-primary" disabled={chat.isPending}>
            {chat.isPending ? "Waiting for the model…" : "Send"}
          </button>
        </div>
      </form>
      {chat.isError ? <ErrorMessage error={chat.error} /> : null}
      {chat.data ? (
        <div className="card" aria-live="polite">
          <p className="reply">{chat.data.content || "(empty reply)"}</p>
          <p className="muted">
            {Math.round(chat.data.elapsedMs)} ms
            {chat.data.usage ? ` · ${chat.data.usage.prompt_tokens} prompt + ${chat.data.usage.completion_tokens} completion tokens` : ""}
          </p>
        </div>
      ) : null}
    </div>
  );
}
