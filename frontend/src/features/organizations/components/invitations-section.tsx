import { useId, useState, type FormEvent } from "react";
import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useCreateInvitation } from "../api/create-invitation";
import { useInvitations } from "../api/get-invitations";
import { useRevokeInvitation } from "../api/revoke-invitation";
import { may, ROLES, type Role } from "../roles";

function InviteForm({ myRole }: { myRole: string | undefined }) {
  const emailId = useId();
  const roleId = useId();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const create = useCreateInvitation();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ email: email.trim(), role }, { onSuccess: () => setEmail("") });
  };
  return (
    <form className="form" onSubmit={submit} aria-label="Invite someone">
      <div className="grid-2">
        <div className="form">
          <label htmlFor={emailId}>Email address</label>
          <input id={emailId} type="email" required maxLength={254} autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="form">
          <label htmlFor={roleId}>Role</label>
          <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r} disabled={r === "owner" && !may.manageOwners(myRole)}>
                {r}
              </option>
            ))}
          </select>
        </div>
      </div>
      {create.isError ? <ErrorMessage error={create.error} /> : null}
      {create.isSuccess ? (
        <p role="status" className="muted">
          Invitation sent to {create.data.email} as {create.data.role}.
        </p>
      ) : null}
      <div>
        <button type="submit" className="button button-primary" disabled={create.isPending}>
          {create.isPending ? "Sending…" : "Send invitation"}
        </button>
      </div>
    </form>
  );
}

/** Open invitations (owners and admins): invite by email with a role, withdraw. */
export function InvitationsSection({ myRole, personal }: { myRole: string | undefined; personal: boolean }) {
  const invitations = useInvitations(!personal);
  const revoke = useRevokeInvitation();
  if (personal) {
    return (
      <p className="muted">
        A personal organization has no other members. Create an organization (or switch to one) to invite people.
      </p>
    );
  }
  const all = invitations.data?.pages.flatMap((p) => p.results) ?? [];
  return (
    <div className="stack">
      <InviteForm myRole={myRole} />
      {invitations.isPending ? <Loading label="Loading invitations…" /> : null}
      {invitations.isError ? <ErrorMessage error={invitations.error} onRetry={() => void invitations.refetch()} /> : null}
      {revoke.isError ? <ErrorMessage error={revoke.error} /> : null}
      {invitations.isSuccess && all.length === 0 ? <Empty title="No open invitations" /> : null}
      {all.length > 0 ? (
        <table className="table responsive">
          <caption className="visually-hidden">Open invitations</caption>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {all.map((inv) => (
              <tr key={inv.id}>
                <th scope="row" data-label="Email">
                  {inv.email}
                  {inv.invited_by ? <span className="muted"> · invited by {inv.invited_by}</span> : null}
                </th>
                <td data-label="Role">{inv.role}</td>
                <td data-label="Status">{inv.status}</td>
                <td data-label="Expires">{formatDate(inv.expires_at)}</td>
                <td className="actions">
                  <div className="row-actions">
                    {inv.status === "pending" || inv.status === "expired" ? (
                      <button
                        type="button"
                        className="button button-small button-danger"
                        disabled={revoke.isPending && revoke.variables === inv.id}
                        onClick={() => revoke.mutate(inv.id)}
                        aria-label={`Revoke the invitation of ${inv.email}`}
                      >
                        Revoke
                      </button>
                    ) : null}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {invitations.hasNextPage ? (
        <button type="button" className="button" onClick={() => void invitations.fetchNextPage()} disabled={invitations.isFetchingNextPage}>
          Show more invitations
        </button>
      ) : null}
    </div>
  );
}
