import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { Page } from "@/features/keys/types";

export type Chat = {
  call_id: string;
  created_at: string;
  key_id: string | null;
  model: string;
  messages: unknown;
  response: unknown;
};

export const chatsQueryOptions = (organization: string) =>
  infiniteQueryOptions({
    queryKey: ["chats", organization],
    queryFn: async ({ pageParam }) => (await api.get<Page<Chat>>(pageParam ?? "/api/chats/", { params: pageParam ? undefined : { limit: 20 } })).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useChats = () => useInfiniteQuery(chatsQueryOptions(useOrganizationKey()));
