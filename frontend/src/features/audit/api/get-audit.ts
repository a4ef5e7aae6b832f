import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { Page } from "@/features/keys/types";

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

export const auditQueryOptions = (organization: string) =>
  infiniteQueryOptions({
    queryKey: ["audit", organization],
    queryFn: async ({ pageParam }) => (await api.get<Page<AuditEvent>>(pageParam ?? "/api/audit/", { params: pageParam ? undefined : { limit: 25 } })).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useAudit = (enabled = true) => useInfiniteQuery({ ...auditQueryOptions(useOrganizationKey()), enabled });
