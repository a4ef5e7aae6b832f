import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";

export const deleteApp = async (clientId: string) => {
  await api.delete(`/api/organization/apps/${encodeURIComponent(clientId)}`);
};

export const useDeleteApp = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: deleteApp, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["oauth-apps"] }) });
};
