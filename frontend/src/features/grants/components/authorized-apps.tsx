import { useState } from "react";
import { Dialog } from "@/components/ui/dialog";
import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useGrants, type Grant } from "../api/get-grants";
import { useRevokeGrant } from "../api/revoke-grant";

function RevokeGrantDialog({ grant, onClose }: { grant: Grant; onClose: () => void }) {
  const revoke = useRevokeGrant();
  const sessionLost = revoke.error && "code" in revoke.error && revoke.error.code === "not_authenticated";
  return (
    <Dialog title={`Revoke “${grant.name}”?`} onClose={onClose}>
      <p>
        {grant.name} loses access at once: its tokens stop working
        {grant.keys ? ` and the ${grant.keys} API ${grant.keys === 1 ? "key" : "keys"} it holds in your name are revoked` : ""}. It
        can ask you again later.
      </p>
      {revoke.isError ? <ErrorMessage error={revoke.error} /> : null}
      {sessionLost ? <p className="muted">Revoking needs your login session: log out, log in again, and retry.</p> : null}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose} data-autofocus>
          Cancel
        </button>
        <button type="button" className="button button-danger" disabled={revoke.isPending} onClick={() => revoke.mutate(grant.client_id, { onSuccess: onClose })}>
          {revoke.isPending ? "Revoking…" : "Revoke access"}
        </button>
      </div>
    </Dialog>
  );
}

/** Third-party apps the caller has authorized ("Sign in with LLMaaS"), with revoke. */
export function AuthorizedApps() {
  const grants = useGrants();
  const [revoking, setRevoking] = useState<Grant | null>(null);
  if (grants.isPending) return <Loading label="Loading authorized apps…" />;
  if (grants.isError) return <ErrorMessage error={grants.error} onRetry={() => void grants.refetch()} />;
  if (grants.data.length === 0) {
    return (
      <Empty title="No authorized apps">
        <p>Apps you allow to act in your name (“Sign in with LLMaaS”) are listed here.</p>
      </Empty>
    );
  }
  return (
    <>
      <table className="table responsive">
        <caption className="visually-hidden">Authorized apps</caption>
        <thead>
          <tr>
            <th scope="col">App</th>
            <th scope="col">May</th>
            <th scope="col">Keys</th>
            <th scope="col">Last authorized</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {grants.data.map((g) => (
            <tr key={g.client_id}>
              <th scope="row" data-label="App">
                {g.name} {g.organization ? <span className="muted">by {g.organization}</span> : null}
              </th>
              <td data-label="May">{g.scopes.length ? g.scopes.join(", ") : "—"}</td>
              <td data-label="Keys">{g.keys}</td>
              <td data-label="Last authorized">{formatDate(g.last_authorized_at)}</td>
              <td className="actions">
                <div className="row-actions">
                  <button type="button" className="button button-small button-danger" onClick={() => setRevoking(g)} aria-label={`Revoke ${g.name}`}>
                    Revoke
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {revoking ? <RevokeGrantDialog grant={revoking} onClose={() => setRevoking(null)} /> : null}
    </>
  );
}
