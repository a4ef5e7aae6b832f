import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { ApiKey, KeyInput } from "../types";

export const updateKey = async ({ id, changes }: { id: string; changes: Partial<KeyInput> }) =>
  (await api.patch<ApiKey>(`/api/keys/${id}/`, changes)).data;

export const useUpdateKey = () => {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: updateKey,
    onSuccess: (key) => {
      void queryClient.invalidateQueries({ queryKey: ["keys"] });
      void queryClient.invalidateQueries({ queryKey: ["key-effective", key.id] });
    },
  });
};
