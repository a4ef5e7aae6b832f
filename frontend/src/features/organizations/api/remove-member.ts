import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";

export const removeMember = async (userId: string) => {
  await api.delete(`/api/organization/members/${encodeURIComponent(userId)}`);
};

export const useRemoveMember = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: removeMember, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["members"] }) });
};
