import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { Me } from "./get-me";

export const useUpdateMe = () => {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: { name: string }) => (await api.patch<Me>("/api/auth/me", body)).data,
    onSuccess: (me) => queryClient.setQueryData(["me"], me),
  });
};
