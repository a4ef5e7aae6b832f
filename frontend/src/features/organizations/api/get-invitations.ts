import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { Page } from "@/features/keys/types";
import type { Role } from "../roles";

/** accounts/organization_apis.py InvitationOutputSerializer. */
export type Invitation = {
  id: string;
  email: string;
  role: Role;
  status: "pending" | "expired" | "accepted" | "revoked";
  invited_by: string | null;
  created_at: string;
  expires_at: string;
};

export const invitationsQueryOptions = (organization: string) =>
  infiniteQueryOptions({
    queryKey: ["invitations", organization],
    queryFn: async ({ pageParam }) => (await api.get<Page<Invitation>>(pageParam ?? "/api/organization/invitations")).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useInvitations = (enabled = true) => useInfiniteQuery({ ...invitationsQueryOptions(useOrganizationKey()), enabled });
