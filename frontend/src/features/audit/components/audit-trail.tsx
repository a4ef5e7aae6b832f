import { useId, useState } from "react";
import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { AUDIT_CATEGORIES, type AuditCategory } from "../actions";
import { useAudit, type AuditEvent } from "../api/get-audit";

function detailsOf(event: AuditEvent): string {
  const entries = Object.entries(event.details ?? {}).filter(([, v]) => v !== null && v !== "" && typeof v !== "object");
  return entries.map(([k, v]) => `${k}: ${String(v)}`).join(", ");
}

/** Who did what, when, from where: the organization's audit trail, newest first, paginated. */
export function AuditTrail() {
  const filterId = useId();
  const [category, setCategory] = useState<AuditCategory | "">("");
  return (
    <div className="stack">
      <div className="controls">
        <div className="control">
          <label htmlFor={filterId}>Show</label>
          <select id={filterId} value={category} onChange={(e) => setCategory(e.target.value as AuditCategory | "")}>
            <option value="">Every action</option>
            {(Object.keys(AUDIT_CATEGORIES) as AuditCategory[]).map((c) => (
              <option key={c} value={c}>
                {AUDIT_CATEGORIES[c].label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <AuditEntries category={category || null} />
    </div>
  );
}

function AuditEntries({ category }: { category: AuditCategory | null }) {
  const audit = useAudit(category);
  if (audit.isPending) return <Loading label="Loading the audit trail…" />;
  if (audit.isError) return <ErrorMessage error={audit.error} onRetry={() => void audit.refetch()} />;
  const all = audit.data.pages.flatMap((p) => p.results);
  if (all.length === 0) return <Empty title="Nothing recorded yet" />;
  return (
    <>
      <table className="table responsive">
        <caption className="visually-hidden">Audit trail</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Action</th>
            <th scope="col">By</th>
            <th scope="col">Target</th>
            <th scope="col">From</th>
          </tr>
        </thead>
        <tbody>
          {all.map((e) => (
            <tr key={e.id}>
              <th scope="row" data-label="When">
                <time dateTime={e.created_at}>{formatDate(e.created_at)}</time>
              </th>
              <td data-label="Action">
                <code>{e.action}</code>
                {detailsOf(e) ? <div className="muted small">{detailsOf(e)}</div> : null}
              </td>
              <td data-label="By">{e.actor?.email || "the system"}</td>
              <td data-label="Target" className="break">
                {e.target ? `${e.target.type} ${e.target.id}` : "—"}
              </td>
              <td data-label="From">{e.ip ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {audit.hasNextPage ? (
        <button type="button" className="button" onClick={() => void audit.fetchNextPage()} disabled={audit.isFetchingNextPage}>
          {audit.isFetchingNextPage ? "Loading…" : "Show older entries"}
        </button>
      ) : null}
    </>
  );
}
