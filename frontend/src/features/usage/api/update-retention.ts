import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { Retention } from "./get-retention";

export type RetentionInput = { log_retention_days: number | null; chat_retention_days: number | null };

export const updateRetention = async (input: RetentionInput) => (await api.patch<Retention>("/api/usage/retention", input)).data;

export const useUpdateRetention = () => {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: updateRetention,
    onSuccess: (data) => {
      queryClient.setQueriesData({ queryKey: ["retention"] }, data);
      return queryClient.invalidateQueries({ queryKey: ["retention"] });
    },
  });
};
