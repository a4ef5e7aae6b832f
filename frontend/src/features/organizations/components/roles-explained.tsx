import { ROLE_DESCRIPTIONS, ROLES } from "../roles";

export function RolesExplained({ myRole }: { myRole: string | undefined }) {
  return (
    <dl className="roles">
      {ROLES.map((role) => (
        <div key={role} className={role === myRole ? "role role-mine" : "role"}>
          <dt>
            {role}
            {role === myRole ? <span className="badge">your role</span> : null}
          </dt>
          <dd>{ROLE_DESCRIPTIONS[role]}</dd>
        </div>
      ))}
    </dl>
  );
}
