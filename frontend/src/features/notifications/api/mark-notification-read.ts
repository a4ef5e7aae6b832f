import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { Notification } from "./get-notifications";

export const markNotificationRead = async (id: number) => (await api.post<Notification>(`/api/notifications/${id}/read`)).data;

export const useMarkNotificationRead = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: markNotificationRead, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["notifications"] }) });
};
