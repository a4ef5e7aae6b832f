import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";

export const revokeInvitation = async (id: string) => {
  await api.delete(`/api/organization/invitations/${encodeURIComponent(id)}`);
};

export const useRevokeInvitation = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: revokeInvitation, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["invitations"] }) });
};
