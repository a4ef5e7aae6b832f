import { useState } from "react";
import { formatDate, formatNumber, formatUsd } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useKeys } from "../api/get-keys";
import type { ApiKey } from "../types";

export type KeyAction = "edit" | "rotate" | "revoke" | "effective";

function limitsOf(key: ApiKey): string {
  const parts = [
    key.budget_usd !== null ? `${formatUsd(key.budget_usd)} ${key.budget_period}` : null,
    key.rpm !== null ? `${formatNumber(key.rpm)} rpm` : null,
    key.tpm !== null ? `${formatNumber(key.tpm)} tpm` : null,
    key.max_parallel !== null ? `${key.max_parallel} parallel` : null,
  ].filter(Boolean);
  return parts.length ? parts.join(" · ") : "none";
}

function KeysTable({ keys, onAction }: { keys: ApiKey[]; onAction: (action: KeyAction, key: ApiKey) => void }) {
  return (
    <table className="table responsive">
      <caption className="visually-hidden">API keys</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Key</th>
          <th scope="col">Models</th>
          <th scope="col">Limits</th>
          <th scope="col">Last used</th>
          <th scope="col">Created</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {keys.map((key) => (
          <tr key={key.id} className={key.revoked ? "revoked" : undefined}>
            <th scope="row" data-label="Name">
              {key.name}
              {key.revoked ? <span className="badge badge-danger">revoked</span> : null}
              {key.playground ? (
                <span className="badge badge-accent" title="A short-lived key the playground issued for you">
                  Playground
                </span>
              ) : null}
              {key.app ? <span className="badge">{key.app.name}</span> : null}
            </th>
            <td data-label="Key">
              <code>{key.prefix}…</code>
            </td>
            <td data-label="Models">{key.models.length ? key.models.join(", ") : "all"}</td>
            <td data-label="Limits">{limitsOf(key)}</td>
            <td data-label="Last used">{formatDate(key.last_used_at)}</td>
            <td data-label="Created">{formatDate(key.created_at)}</td>
            <td className="actions">
              <div className="row-actions">
                <button type="button" className="button button-small" onClick={() => onAction("effective", key)} aria-label={`What applies to ${key.name}`}>
                  Limits
                </button>
                {key.revoked ? null : (
                  <>
                    <button type="button" className="button button-small" onClick={() => onAction("edit", key)} aria-label={`Edit ${key.name}`}>
                      Edit
                    </button>
                    <button type="button" className="button button-small" onClick={() => onAction("rotate", key)} aria-label={`Rotate ${key.name}`}>
                      Rotate
                    </button>
                    <button type="button" className="button button-small button-danger" onClick={() => onAction("revoke", key)} aria-label={`Revoke ${key.name}`}>
                      Revoke
                    </button>
                  </>
                )}
              </div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function KeysList({ onAction, onCreate }: { onAction: (action: KeyAction, key: ApiKey) => void; onCreate: () => void }) {
  const keys = useKeys();
  const [showRevoked, setShowRevoked] = useState(false);
  if (keys.isPending) return <Loading label="Loading keys…" />;
  if (keys.isError) return <ErrorMessage error={keys.error} onRetry={() => void keys.refetch()} />;
  const all = keys.data.pages.flatMap((p) => p.results);
  if (all.length === 0) {
    return (
      <Empty title="No keys yet">
        <p>Create a key to call the API with any OpenAI SDK.</p>
        <button type="button" className="button button-primary" onClick={onCreate}>
          Create your first key
        </button>
      </Empty>
    );
  }
  // Revoked keys stay listed by the API (each playground visit revokes the previous playground
  // key, so they pile up): hidden unless asked for.
  const revoked = all.filter((k) => k.revoked).length;
  const shown = showRevoked ? all : all.filter((k) => !k.revoked);
  return (
    <>
      {revoked ? (
        <label className="checkbox list-filter">
          <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
          Show revoked ({revoked})
        </label>
      ) : null}
      {shown.length === 0 ? (
        <p className="muted">Every key here is revoked. Create a new one, or show the revoked keys.</p>
      ) : (
        <KeysTable keys={shown} onAction={onAction} />
      )}
      {keys.hasNextPage ? (
        <button type="button" className="button" onClick={() => void keys.fetchNextPage()} disabled={keys.isFetchingNextPage}>
          {keys.isFetchingNextPage ? "Loading…" : "Show more keys"}
        </button>
      ) : null}
    </>
  );
}
