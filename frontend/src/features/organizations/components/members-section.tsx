import { useState } from "react";
import { useMe } from "@/features/auth/api/get-me";
import { Dialog } from "@/components/ui/dialog";
import { formatDate } from "@/components/ui/format";
import { ErrorMessage, Loading } from "@/components/ui/states";
import { useMembers, type Member } from "../api/get-members";
import { useRemoveMember } from "../api/remove-member";
import { useUpdateMemberRole } from "../api/update-member-role";
import { may, ROLES, type Role } from "../roles";

function RemoveMemberDialog({ member, onClose }: { member: Member; onClose: () => void }) {
  const remove = useRemoveMember();
  const who = member.name || member.email;
  return (
    <Dialog title={`Remove ${who}?`} onClose={onClose}>
      <p>
        {who} loses access to this organization at once. The keys they created stay with the organization. They can come back only
        with a new invitation.
      </p>
      {remove.isError ? <ErrorMessage error={remove.error} /> : null}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose} data-autofocus>
          Cancel
        </button>
        <button type="button" className="button button-danger" disabled={remove.isPending} onClick={() => remove.mutate(member.user_id, { onSuccess: onClose })}>
          {remove.isPending ? "Removing…" : "Remove member"}
        </button>
      </div>
    </Dialog>
  );
}

function RoleCell({ member, myRole, isMe }: { member: Member; myRole: string | undefined; isMe: boolean }) {
  const update = useUpdateMemberRole();
  const ownersOnly = member.role === "owner" && !may.manageOwners(myRole);
  if (!may.manageMembers(myRole) || ownersOnly) return <>{member.role}</>;
  const who = member.name || member.email;
  return (
    <div className="stack stack-tight">
      <label className="visually-hidden" htmlFor={`role-${member.user_id}`}>
        Role of {who}
      </label>
      <select
        id={`role-${member.user_id}`}
        value={update.isPending && update.variables ? update.variables.role : member.role}
        disabled={update.isPending}
        onChange={(e) => update.mutate({ userId: member.user_id, role: e.target.value as Role })}
      >
        {ROLES.map((r) => (
          <option key={r} value={r} disabled={r === "owner" && !may.manageOwners(myRole)}>
            {r}
            {isMe && r === member.role ? " (you)" : ""}
          </option>
        ))}
      </select>
      {update.isError ? <ErrorMessage error={update.error} /> : null}
    </div>
  );
}

/** The organization's members; owners and admins change roles and remove (with confirmation). */
export function MembersSection({ myRole }: { myRole: string | undefined }) {
  const members = useMembers();
  const me = useMe();
  const [removing, setRemoving] = useState<Member | null>(null);
  if (members.isPending) return <Loading label="Loading members…" />;
  if (members.isError) return <ErrorMessage error={members.error} onRetry={() => void members.refetch()} />;
  const all = members.data.pages.flatMap((p) => p.results);
  const manage = may.manageMembers(myRole);
  return (
    <>
      <table className="table responsive">
        <caption className="visually-hidden">Members</caption>
        <thead>
          <tr>
            <th scope="col">Member</th>
            <th scope="col">Role</th>
            <th scope="col">Joined</th>
            {manage ? (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody>
          {all.map((m) => {
            const isMe = m.user_id === me.data?.id;
            const removable = manage && !isMe && (m.role !== "owner" || may.manageOwners(myRole));
            return (
              <tr key={m.user_id}>
                <th scope="row" data-label="Member">
                  {m.name || m.email} {m.name ? <span className="muted">{m.email}</span> : null}
                  {isMe ? <span className="badge">you</span> : null}
                  {m.active ? null : <span className="badge badge-danger">deactivated</span>}
                </th>
                <td data-label="Role">
                  <RoleCell member={m} myRole={myRole} isMe={isMe} />
                </td>
                <td data-label="Joined">{formatDate(m.joined_at)}</td>
                {manage ? (
                  <td className="actions">
                    <div className="row-actions">
                      {removable ? (
                        <button type="button" className="button button-small button-danger" onClick={() => setRemoving(m)} aria-label={`Remove ${m.name || m.email}`}>
                          Remove
                        </button>
                      ) : null}
                    </div>
                  </td>
                ) : null}
              </tr>
            );
          })}
        </tbody>
      </table>
      {members.hasNextPage ? (
        <button type="button" className="button" onClick={() => void members.fetchNextPage()} disabled={members.isFetchingNextPage}>
          {members.isFetchingNextPage ? "Loading…" : "Show more members"}
        </button>
      ) : null}
      {removing ? <RemoveMemberDialog member={removing} onClose={() => setRemoving(null)} /> : null}
    </>
  );
}
