import { formatDate, formatNumber, formatUsd } from "@/components/ui/format";
import { ErrorMessage, Loading } from "@/components/ui/states";
import { useOrganizationLimits } from "../api/get-limits";
import { useMembers } from "../api/get-members";

export function OrganizationLimitsView() {
  const limits = useOrganizationLimits();
  if (limits.isPending) return <Loading />;
  if (limits.isError) return <ErrorMessage error={limits.error} onRetry={() => void limits.refetch()} />;
  const l = limits.data;
  return (
    <dl className="facts">
      <dt>Budget</dt>
      <dd>{l.budget_usd === null ? "none" : `${formatUsd(l.budget_usd)} ${l.budget_period}`}</dd>
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
  );
}

export function MembersView() {
  const members = useMembers();
  if (members.isPending) return <Loading />;
  if (members.isError) return <ErrorMessage error={members.error} />;
  return (
    <table className="table responsive">
      <caption className="visually-hidden">Members</caption>
      <thead>
        <tr>
          <th scope="col">Member</th>
          <th scope="col">Role</th>
          <th scope="col">Joined</th>
        </tr>
      </thead>
      <tbody>
        {members.data.map((m) => (
          <tr key={m.user_id}>
            <th scope="row" data-label="Member">
              {m.name || m.email} <span className="muted">{m.name ? m.email : ""}</span>
            </th>
            <td data-label="Role">{m.role}</td>
            <td data-label="Joined">{formatDate(m.joined_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
