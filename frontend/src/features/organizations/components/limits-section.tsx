import { useId, useState, type FormEvent } from "react";
import { formatNumber, formatUsd } from "@/components/ui/format";
import { ErrorMessage, Loading } from "@/components/ui/states";
import type { BudgetPeriod } from "@/features/keys/types";
import { useOrganizationLimits, type OrganizationLimits } from "../api/get-limits";
import { useUpdateLimits, type LimitsInput } from "../api/update-limits";

const PERIODS: { value: BudgetPeriod; label: string }[] = [
  { value: "daily", label: "per day" },
  { value: "monthly", label: "per month" },
  { value: "lifetime", label: "in total (never resets)" },
];

const optionalInt = (value: string) => (value.trim() === "" ? null : Number(value));

function LimitsForm({ limits, onDone }: { limits: OrganizationLimits; onDone: () => void }) {
  const id = useId();
  const [form, setForm] = useState({
    budget_usd: limits.budget_usd === null ? "" : String(Number(limits.budget_usd)),
    budget_period: limits.budget_period,
    rpm: limits.rpm?.toString() ?? "",
    tpm: limits.tpm?.toString() ?? "",
    max_parallel: limits.max_parallel?.toString() ?? "",
    models: limits.models.join(", "),
    timezone: limits.timezone,
  });
  const update = useUpdateLimits();
  const set = (field: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [field]: e.target.value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const input: LimitsInput = {
      budget_usd: form.budget_usd.trim() === "" ? null : form.budget_usd.trim(),
      budget_period: form.budget_period,
      rpm: optionalInt(form.rpm),
      tpm: optionalInt(form.tpm),
      max_parallel: optionalInt(form.max_parallel),
      models: form.models
        .split(",")
        .map((m) => m.trim())
        .filter(Boolean),
      timezone: form.timezone.trim(),
    };
    update.mutate(input, { onSuccess: onDone });
  };
  return (
    <form className="form" onSubmit={submit} aria-label="Organization limits">
      <div className="grid-2">
        <div className="form">
          <label htmlFor={`${id}-budget`}>Budget (USD)</label>
          <input id={`${id}-budget`} type="number" min={0} step="0.01" inputMode="decimal" value={form.budget_usd} onChange={set("budget_usd")} />
          <small>Empty: no budget.</small>
        </div>
        <div className="form">
          <label htmlFor={`${id}-period`}>Budget period</label>
          <select id={`${id}-period`} value={form.budget_period} onChange={set("budget_period")}>
            {PERIODS.map((p) => (
              <option key={p.value} value={p.value}>
                {p.label}
              </option>
            ))}
          </select>
        </div>
        <div className="form">
          <label htmlFor={`${id}-rpm`}>Requests per minute</label>
          <input id={`${id}-rpm`} type="number" min={1} inputMode="numeric" value={form.rpm} onChange={set("rpm")} />
        </div>
        <div className="form">
          <label htmlFor={`${id}-tpm`}>Tokens per minute</label>
          <input id={`${id}-tpm`} type="number" min={1} inputMode="numeric" value={form.tpm} onChange={set("tpm")} />
        </div>
        <div className="form">
          <label htmlFor={`${id}-parallel`}>Parallel requests</label>
          <input id={`${id}-parallel`} type="number" min={1} inputMode="numeric" value={form.max_parallel} onChange={set("max_parallel")} />
        </div>
        <div className="form">
          <label htmlFor={`${id}-tz`}>Time zone (budget periods)</label>
          <input id={`${id}-tz`} type="text" maxLength={64} value={form.timezone} onChange={set("timezone")} />
        </div>
      </div>
      <label htmlFor={`${id}-models`}>Models</label>
      <input id={`${id}-models`} type="text" value={form.models} onChange={set("models")} placeholder="every model" />
      <small>Comma-separated; empty: every model. Empty limits are unlimited.</small>
      {update.isError ? <ErrorMessage error={update.error} /> : null}
      <div className="row">
        <button type="submit" className="button button-primary" disabled={update.isPending}>
          {update.isPending ? "Saving…" : "Save limits"}
        </button>
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The current organization's limits; owners and admins edit them. */
export function LimitsSection({ canEdit }: { canEdit: boolean }) {
  const limits = useOrganizationLimits();
  const [editing, setEditing] = useState(false);
  if (limits.isPending) return <Loading />;
  if (limits.isError) return <ErrorMessage error={limits.error} onRetry={() => void limits.refetch()} />;
  const l = limits.data;
  if (editing) return <LimitsForm limits={l} onDone={() => setEditing(false)} />;
  return (
    <div className="stack">
      <dl className="facts">
        <dt>Budget</dt>
        <dd>{l.budget_usd === null ? "none" : `${formatUsd(l.budget_usd)} ${PERIODS.find((p) => p.value === l.budget_period)?.label ?? l.budget_period}`}</dd>
        <dt>Requests / minute</dt>
        <dd>{formatNumber(l.rpm)}</dd>
        <dt>Tokens / minute</dt>
        <dd>{formatNumber(l.tpm)}</dd>
        <dt>Parallel requests</dt>
        <dd>{formatNumber(l.max_parallel)}</dd>
        <dt>Models</dt>
        <dd>{l.models.length ? l.models.join(", ") : "every model"}</dd>
        <dt>Time zone</dt>
        <dd>{l.timezone}</dd>
      </dl>
      {canEdit ? (
        <div>
          <button type="button" className="button" onClick={() => setEditing(true)}>
            Edit limits
          </button>
        </div>
      ) : null}
    </div>
  );
}
