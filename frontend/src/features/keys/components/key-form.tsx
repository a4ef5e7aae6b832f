import { useId, useState, type FormEvent } from "react";
import type { ApiKey, BudgetPeriod, KeyInput } from "../types";

type Draft = {
  name: string;
  models: string;
  expiresAt: string;
  storeChats: boolean;
  budgetUsd: string;
  budgetPeriod: BudgetPeriod;
  rpm: string;
  tpm: string;
  maxParallel: string;
};

function draftOf(key?: ApiKey): Draft {
  return {
    name: key?.name ?? "",
    models: key?.models.join(", ") ?? "",
    expiresAt: key?.expires_at ? key.expires_at.slice(0, 10) : "",
    storeChats: key?.store_chats ?? false,
    budgetUsd: key?.budget_usd ?? "",
    budgetPeriod: key?.budget_period ?? "monthly",
    rpm: key?.rpm?.toString() ?? "",
    tpm: key?.tpm?.toString() ?? "",
    maxParallel: key?.max_parallel?.toString() ?? "",
  };
}

const whole = (value: string) => (value.trim() === "" ? null : Number.parseInt(value, 10));

function toInput(draft: Draft): KeyInput {
  return {
    name: draft.name.trim(),
    models: draft.models
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean),
    // The end of the chosen day, UTC.
    expires_at: draft.expiresAt ? `${draft.expiresAt}T23:59:59Z` : null,
    store_chats: draft.storeChats,
    budget_usd: draft.budgetUsd.trim() === "" ? null : draft.budgetUsd.trim(),
    budget_period: draft.budgetPeriod,
    rpm: whole(draft.rpm),
    tpm: whole(draft.tpm),
    max_parallel: whole(draft.maxParallel),
  };
}

type KeyFormProps = {
  initial?: ApiKey;
  submitLabel: string;
  pending: boolean;
  onSubmit: (input: KeyInput) => void;
  onCancel: () => void;
};

/** Name, models, limits, expiry and chat opt-in; empty limits mean unlimited. */
export function KeyForm({ initial, submitLabel, pending, onSubmit, onCancel }: KeyFormProps) {
  const id = useId();
  const [draft, setDraft] = useState(() => draftOf(initial));
  const set = <K extends keyof Draft>(field: K, value: Draft[K]) => setDraft((d) => ({ ...d, [field]: value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit(toInput(draft));
  };
  return (
    <form className="form" onSubmit={submit}>
      <label htmlFor={`${id}-name`}>Name</label>
      <input id={`${id}-name`} required maxLength={100} value={draft.name} onChange={(e) => set("name", e.target.value)} data-autofocus />

      <label htmlFor={`${id}-models`}>Models</label>
      <input
        id={`${id}-models`}
        value={draft.models}
        placeholder="every model"
        aria-describedby={`${id}-models-help`}
        onChange={(e) => set("models", e.target.value)}
      />
      <small id={`${id}-models-help`}>Comma-separated; empty: every model the organization allows.</small>

      <fieldset className="grid-2">
        <legend>Limits (empty: unlimited)</legend>
        <div>
          <label htmlFor={`${id}-budget`}>Budget (USD)</label>
          <input id={`${id}-budget`} inputMode="decimal" pattern="[0-9]*\.?[0-9]*" value={draft.budgetUsd} onChange={(e) => set("budgetUsd", e.target.value)} />
        </div>
        <div>
          <label htmlFor={`${id}-period`}>Budget period</label>
          <select id={`${id}-period`} value={draft.budgetPeriod} onChange={(e) => set("budgetPeriod", e.target.value as BudgetPeriod)}>
            <option value="daily">daily</option>
            <option value="monthly">monthly</option>
            <option value="lifetime">lifetime</option>
          </select>
        </div>
        <div>
          <label htmlFor={`${id}-rpm`}>Requests per minute</label>
          <input id={`${id}-rpm`} type="number" min={1} value={draft.rpm} onChange={(e) => set("rpm", e.target.value)} />
        </div>
        <div>
          <label htmlFor={`${id}-tpm`}>Tokens per minute</label>
          <input id={`${id}-tpm`} type="number" min={1} value={draft.tpm} onChange={(e) => set("tpm", e.target.value)} />
        </div>
        <div>
          <label htmlFor={`${id}-parallel`}>Parallel requests</label>
          <input id={`${id}-parallel`} type="number" min={1} value={draft.maxParallel} onChange={(e) => set("maxParallel", e.target.value)} />
        </div>
        <div>
          <label htmlFor={`${id}-expires`}>Expires (end of day, UTC)</label>
          <input id={`${id}-expires`} type="date" value={draft.expiresAt} onChange={(e) => set("expiresAt", e.target.value)} />
        </div>
      </fieldset>

      <label className="checkbox">
        <input type="checkbox" checked={draft.storeChats} onChange={(e) => set("storeChats", e.target.checked)} />
        Keep chat history for calls with this key
      </label>

      <div className="dialog-actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={pending}>
          {pending ? "Saving…" : submitLabel}
        </button>
      </div>
    </form>
  );
}
