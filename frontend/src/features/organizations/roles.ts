import { useMe, type Membership } from "@/features/auth/api/get-me";
import { useOrganizationStore } from "@/stores/organization";

export type Role = "owner" | "admin" | "member" | "viewer" | "billing";

export const ROLES: Role[] = ["owner", "admin", "member", "viewer", "billing"];

/** What each role may do, in words (accounts/roles.py is the truth; the API checks every call). */
export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  owner: "Everything, including deleting the organization, transferring ownership and granting or taking the owner role.",
  admin: "Members (except owners), invitations, every key, limits, retention, OAuth apps, the audit trail, all usage and chats.",
  member: "Creates API keys and manages the keys they created; sees the usage and chats of those keys.",
  viewer: "Reads the organization's usage, its limits and its models; no keys.",
  billing: "Billing and the organization's usage; no keys.",
};

const ADMINS: ReadonlySet<string> = new Set(["owner", "admin"]);

/** The role checks the portal uses to show or hide controls (never a substitute for the API's). */
export const may = {
  manageMembers: (role: string | undefined) => ADMINS.has(role ?? ""),
  manageOwners: (role: string | undefined) => role === "owner",
  manageLimits: (role: string | undefined) => ADMINS.has(role ?? ""),
  viewAudit: (role: string | undefined) => ADMINS.has(role ?? ""),
  manageApps: (role: string | undefined) => ADMINS.has(role ?? ""),
  manageRetention: (role: string | undefined) => ADMINS.has(role ?? ""),
  viewRetention: (role: string | undefined) => ["owner", "admin", "viewer", "billing"].includes(role ?? ""),
  listKeys: (role: string | undefined) => ["owner", "admin", "member"].includes(role ?? ""),
  viewChats: (role: string | undefined) => ["owner", "admin", "member"].includes(role ?? ""),
};

/** The caller's membership in the current organization (the switcher's choice, else the personal one). */
export function useCurrentMembership(enabled = true): { membership: Membership | null; isPending: boolean } {
  const me = useMe(enabled);
  const active = useOrganizationStore((s) => s.activeOrganizationId);
  const organizations = me.data?.organizations ?? [];
  const membership =
    (active ? organizations.find((o) => o.id === active) : undefined) ?? organizations.find((o) => o.personal) ?? organizations[0] ?? null;
  return { membership, isPending: me.isPending };
}
