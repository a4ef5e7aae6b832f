import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { ApiKey, Page } from "../types";

export const keysQueryOptions = (organization: string) =>
  infiniteQueryOptions({
    queryKey: ["keys", organization],
    queryFn: async ({ pageParam }) => (await api.get<Page<ApiKey>>(pageParam ?? "/api/keys/")).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useKeys = () => useInfiniteQuery(keysQueryOptions(useOrganizationKey()));
