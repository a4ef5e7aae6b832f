import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";

export type Member = { user_id: string; email: string; name: string; role: string; joined_at?: string };

type MembersBody = Member[] | { results: Member[] };

export const membersQueryOptions = (organization: string) =>
  queryOptions({
    queryKey: ["members", organization],
    queryFn: async () => {
      const body = (await api.get<MembersBody>("/api/organization/members")).data;
      return Array.isArray(body) ? body : body.results;
    },
    retry: false,
  });

export const useMembers = () => useQuery(membersQueryOptions(useOrganizationKey()));
