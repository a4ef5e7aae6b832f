import { infiniteQueryOptions, useInfiniteQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import type { Page } from "@/features/keys/types";

/** usage/apis.py NotificationOutputSerializer. */
export type Notification = {
  id: number;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  created_at: string;
  read_at: string | null;
};

export const notificationsQueryOptions = (organization: string, unread: boolean) =>
  infiniteQueryOptions({
    queryKey: ["notifications", organization, { unread }],
    queryFn: async ({ pageParam }) =>
      (await api.get<Page<Notification>>(pageParam ?? "/api/notifications/", { params: pageParam ? undefined : { limit: 20, unread: unread || undefined } })).data,
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next,
  });

export const useNotifications = (unread: boolean) => useInfiniteQuery(notificationsQueryOptions(useOrganizationKey(), unread));
