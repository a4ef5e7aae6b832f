import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { Page } from "@/features/keys/types";

/** usage/apis.py ChatOutputSerializer: the request's messages and the model's reply as stored. */
export type Chat = {
  call_id: string;
  created_at: string;
  key_id: string | null;
  model: string;
  messages: unknown;
  response: unknown;
};

/** usage/filters.py ChatQuerySerializer: one key, and a range [start, end) of ISO 8601 times. */
export type ChatFilters = { key?: string; start?: string; end?: string };

export const PAGE_SIZE = 20;

/** The filters as query parameters (empty ones left out). */
export function chatParams(filters: ChatFilters): Record<string, string> {
  return Object.fromEntries(Object.entries(filters).filter(([, v]) => typeof v === "string" && v !== "")) as Record<string, string>;
}

export const chatsQueryOptions = (organization: string, filters: ChatFilters) =>
  infiniteQueryOptions({
    queryKey: ["chats", organization, chatParams(filters)],
    // The API's cursor pagination: the first page from the filters, then its `next` link as is.
    queryFn: async ({ pageParam }) =>
      (await api.get<Page<Chat>>(pageParam ?? "/api/chats/", { params: pageParam ? undefined : { ...chatParams(filters), limit: PAGE_SIZE } })).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useChats = (filters: ChatFilters) => useInfiniteQuery(chatsQueryOptions(useOrganizationKey(), filters));
