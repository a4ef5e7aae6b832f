import { Dialog } from "@/components/ui/dialog";
import { formatDate, formatNumber, formatUsd } from "@/components/ui/format";
import { ErrorMessage, Loading } from "@/components/ui/states";
import { useKeyEffective } from "../api/get-key-effective";
import type { ApiKey } from "../types";

const SET_BY = { key: "this key", organization: "the organization", both: "key and organization", null: "nobody" } as const;
const setBy = (value: keyof typeof SET_BY | null) => SET_BY[value ?? "null"];

export function EffectiveLimitsDialog({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const effective = useKeyEffective(apiKey.id);
  const data = effective.data;
  return (
    <Dialog title={`What applies to “${apiKey.name}”`} onClose={onClose}>
      {effective.isPending ? <Loading /> : null}
      {effective.isError ? <ErrorMessage error={effective.error} onRetry={() => void effective.refetch()} /> : null}
      {data ? (
        <div className="stack">
          <table className="table compact">
            <caption className="visually-hidden">Effective limits</caption>
            <thead>
              <tr>
                <th scope="col">Limit</th>
                <th scope="col">Value</th>
                <th scope="col">Set by</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <th scope="row">Models</th>
                <td>{data.models.value ? data.models.value.join(", ") || "none" : "every model"}</td>
                <td>{setBy(data.models.set_by)}</td>
              </tr>
              {(["rpm", "tpm", "max_parallel"] as const).map((name) => (
                <tr key={name}>
                  <th scope="row">{{ rpm: "Requests / minute", tpm: "Tokens / minute", max_parallel: "Parallel requests" }[name]}</th>
                  <td>{formatNumber(data[name].value)}</td>
                  <td>{setBy(data[name].set_by)}</td>
                </tr>
              ))}
              <tr>
                <th scope="row">Expires</th>
                <td colSpan={2}>{formatDate(data.expires_at)}</td>
              </tr>
            </tbody>
          </table>
          {data.budgets.length === 0 ? (
            <p>No budget applies: spend is not capped.</p>
          ) : (
            <ul className="list">
              {data.budgets.map((b) => (
                <li key={b.scope}>
                  <strong>{b.scope === "key" ? "Key" : "Organization"} budget</strong> {formatUsd(b.limit_usd)} {b.period}: spent {formatUsd(b.spent_usd)}, reserved{" "}
                  {formatUsd(b.reserved_usd)}, remaining {formatUsd(b.remaining_usd)}
                  {b.resets_at ? `, resets ${formatDate(b.resets_at)}` : ""}
                  {data.budget_binding_scope === b.scope ? " (binding)" : ""}
                </li>
              ))}
            </ul>
          )}
          <p className="muted">Budgets reset at midnight in {data.timezone}.</p>
        </div>
      ) : null}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
