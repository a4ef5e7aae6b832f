import { useEffect, type ReactNode } from "react";
import { useParams } from "react-router";
import { OrganizationApps } from "@/features/apps/components/organization-apps";
import { AuditTrail } from "@/features/audit/components/audit-trail";
import { useMe } from "@/features/auth/api/get-me";
import { ProfileForm } from "@/features/auth/components/profile-form";
import { AuthorizedApps } from "@/features/grants/components/authorized-apps";
import { InvitationsSection } from "@/features/organizations/components/invitations-section";
import { LimitsSection } from "@/features/organizations/components/limits-section";
import { MembersSection } from "@/features/organizations/components/members-section";
import { RolesExplained } from "@/features/organizations/components/roles-explained";
import { may, useCurrentMembership } from "@/features/organizations/roles";
import { RetentionSection } from "@/features/usage/components/retention-section";
import { ErrorMessage, Loading } from "@/components/ui/states";

function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section className="settings-section" aria-labelledby={`${id}-heading`} id={id}>
      <h2 id={`${id}-heading`} tabIndex={-1}>
        {title}
      </h2>
      {children}
    </section>
  );
}

export default function SettingsRoute() {
  const me = useMe();
  const { membership } = useCurrentMembership();
  const section = useParams()["*"];
  const role = membership?.role;
  const personal = membership?.personal ?? true;

  const sections = [
    { id: "profile", title: "Profile", show: true },
    { id: "organizations", title: "Your organizations", show: true },
    { id: "members", title: "Members", show: true },
    { id: "invitations", title: "Invitations", show: may.manageMembers(role) },
    { id: "roles", title: "Roles", show: true },
    { id: "limits", title: "Limits", show: true },
    { id: "retention", title: "Retention", show: may.viewRetention(role) },
    { id: "audit", title: "Audit trail", show: may.viewAudit(role) },
    { id: "apps", title: "Authorized apps", show: true },
    { id: "oauth-apps", title: "OAuth apps of the organization", show: may.manageApps(role) },
  ].filter((s) => s.show);

  useEffect(() => {
    if (section && membership) document.getElementById(section)?.scrollIntoView();
  }, [section, membership]);

  const shown = new Set(sections.map((s) => s.id));
  return (
    <section className="page">
      <h1>Settings</h1>
      <nav aria-label="Settings sections" className="subnav">
        {sections.map((s) => (
          <a key={s.id} href={`#${s.id}`}>
            {s.title}
          </a>
        ))}
      </nav>
      <Section id="profile" title="Profile">
        {me.isPending ? <Loading /> : me.isError ? <ErrorMessage error={me.error} onRetry={() => void me.refetch()} /> : <ProfileForm me={me.data} />}
      </Section>
      <Section id="organizations" title="Your organizations">
        {me.data ? (
          <ul className="list">
            {me.data.organizations.map((o) => (
              <li key={o.id}>
                {o.name} {o.personal && !o.name.includes("personal") ? "(personal)" : ""} · <strong>{o.role}</strong>
                {o.id === membership?.id ? <span className="badge">current</span> : null}
              </li>
            ))}
          </ul>
        ) : null}
        <p className="muted">Switch the current organization with the selector at the top; the sections below are about the current one.</p>
      </Section>
      {membership ? (
        <>
          <Section id="members" title="Members">
            <MembersSection myRole={role} />
          </Section>
          {shown.has("invitations") ? (
            <Section id="invitations" title="Invitations">
              <InvitationsSection myRole={role} personal={personal} />
            </Section>
          ) : null}
          <Section id="roles" title="Roles">
            <RolesExplained myRole={role} />
          </Section>
          <Section id="limits" title="Limits">
            <LimitsSection canEdit={may.manageLimits(role)} />
          </Section>
          {shown.has("retention") ? (
            <Section id="retention" title="Retention">
              <RetentionSection canEdit={may.manageRetention(role)} />
            </Section>
          ) : null}
          {shown.has("audit") ? (
            <Section id="audit" title="Audit trail">
              <AuditTrail />
            </Section>
          ) : null}
        </>
      ) : null}
      <Section id="apps" title="Authorized apps">
        <AuthorizedApps />
      </Section>
      {shown.has("oauth-apps") ? (
        <Section id="oauth-apps" title="OAuth apps of the organization">
          <OrganizationApps />
        </Section>
      ) : null}
    </section>
  );
}
