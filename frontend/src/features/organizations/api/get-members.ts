import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { Page } from "@/features/keys/types";
import type { Role } from "../roles";

/** accounts/organization_apis.py MemberOutputSerializer. */
export type Member = { user_id: string; email: string; name: string; role: Role; active: boolean; joined_at: string };

export const membersQueryOptions = (organization: string) =>
  infiniteQueryOptions({
    queryKey: ["members", organization],
    queryFn: async ({ pageParam }) => (await api.get<Page<Member>>(pageParam ?? "/api/organization/members", { params: pageParam ? undefined : { limit: 100 } })).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useMembers = () => useInfiniteQuery(membersQueryOptions(useOrganizationKey()));
