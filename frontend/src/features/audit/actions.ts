// audit/models.py AuditAction: stable codes ("add new ones, never rename"), grouped for a filter.
export const AUDIT_CATEGORIES = {
  keys: { label: "API keys", actions: ["key.created", "key.changed", "key.rotated", "key.revoked"] },
  members: {
    label: "Members and invitations",
    actions: ["member.invited", "member.invitation_revoked", "member.joined", "member.role_changed", "member.removed", "member.left"],
  },
  organization: {
    label: "Organization and limits",
    actions: ["org.created", "org.renamed", "org.deleted", "org.ownership_transferred", "limits.changed"],
  },
  apps: {
    label: "OAuth apps and grants",
    actions: ["oauth_app.created", "oauth_app.changed", "oauth_app.secret_rotated", "oauth_app.deleted", "oauth.grant_revoked"],
  },
  billing: {
    label: "Billing",
    actions: ["billing.plan_changed", "billing.topup_started", "billing.credited", "billing.code_redeemed", "billing.subscription_changed"],
  },
} as const;

export type AuditCategory = keyof typeof AUDIT_CATEGORIES;
