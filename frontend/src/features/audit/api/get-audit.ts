import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { Page } from "@/features/keys/types";
import { AUDIT_CATEGORIES, type AuditCategory } from "../actions";

/** audit/apis.py AuditEventOutputSerializer. */
export type AuditEvent = {
  id: number | string;
  created_at: string;
  action: string;
  actor: { id: string | null; email: string } | null;
  target: { type: string; id: string } | null;
  details: Record<string, unknown>;
  ip: string | null;
  user_agent: string;
};

/** The first page's query: `action` repeated (action=a&action=b), as the API reads it. */
export function auditParams(category: AuditCategory | null): URLSearchParams {
  const params = new URLSearchParams({ limit: "25" });
  for (const action of category ? AUDIT_CATEGORIES[category].actions : []) params.append("action", action);
  return params;
}

export const auditQueryOptions = (organization: string, category: AuditCategory | null) =>
  infiniteQueryOptions({
    queryKey: ["audit", organization, category],
    // The next page's link carries the filters and the cursor as the API wrote them.
    queryFn: async ({ pageParam }) => (await api.get<Page<AuditEvent>>(pageParam ?? `/api/audit/?${auditParams(category).toString()}`)).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useAudit = (category: AuditCategory | null = null) => useInfiniteQuery(auditQueryOptions(useOrganizationKey(), category));
