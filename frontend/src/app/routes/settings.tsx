import { useMe } from "@/features/auth/api/get-me";
import { ProfileForm } from "@/features/auth/components/profile-form";
import { MembersView, OrganizationLimitsView } from "@/features/organizations/components/organization-overview";
import { ErrorMessage, Loading } from "@/components/ui/states";

export default function SettingsRoute() {
  const me = useMe();
  return (
    <section className="page">
      <h1>Settings</h1>
      <h2>Profile</h2>
      {me.isPending ? <Loading /> : me.isError ? <ErrorMessage error={me.error} onRetry={() => void me.refetch()} /> : <ProfileForm me={me.data} />}
      <h2>Your organizations</h2>
      {me.data ? (
        <ul className="list">
          {me.data.organizations.map((o) => (
            <li key={o.id}>
              {o.name} {o.personal && !o.name.includes("personal") ? "(personal)" : ""} · <strong>{o.role}</strong>
            </li>
          ))}
        </ul>
      ) : null}
      <p className="muted">Switch the current organization with the selector at the top.</p>
      <h2>Limits of the current organization</h2>
      <OrganizationLimitsView />
      <h2>Members</h2>
      <MembersView />
    </section>
  );
}
