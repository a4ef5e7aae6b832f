import { useQueryClient } from "@tanstack/react-query";
import { useId } from "react";
import { useMe } from "@/features/auth/api/get-me";
import { useOrganizationStore } from "@/stores/organization";

function personalName(o: { name: string; personal: boolean }): string {
  return o.personal && !o.name.includes("personal") ? `${o.name} (personal)` : o.name;
}

export function OrganizationSwitcher() {
  const id = useId();
  const me = useMe();
  const active = useOrganizationStore((s) => s.activeOrganizationId);
  const setActive = useOrganizationStore((s) => s.setActiveOrganization);
  const queryClient = useQueryClient();
  const organizations = me.data?.organizations ?? [];
  if (organizations.length === 0) return null;
  const personal = organizations.find((o) => o.personal);
  const value = active && organizations.some((o) => o.id === active) ? active : personal?.id ?? organizations[0]!.id;
  return (
    <div className="org-switcher">
      <label htmlFor={id} className="visually-hidden">
        Organization
      </label>
      <select
        id={id}
        value={value}
        onChange={(e) => {
          setActive(e.target.value === personal?.id ? null : e.target.value);
          void queryClient.invalidateQueries({ predicate: (q) => q.queryKey[0] !== "me" });
        }}
      >
        {organizations.map((o) => (
          <option key={o.id} value={o.id}>
            {personalName(o)} · {o.role}
          </option>
        ))}
      </select>
    </div>
  );
}
