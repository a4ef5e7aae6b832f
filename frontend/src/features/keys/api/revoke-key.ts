import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";

export const revokeKey = async (id: string) => {
  await api.delete(`/api/keys/${id}/`);
};

export const useRevokeKey = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: revokeKey, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["keys"] }) });
};
