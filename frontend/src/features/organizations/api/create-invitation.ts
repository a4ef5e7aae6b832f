import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { Role } from "../roles";
import type { Invitation } from "./get-invitations";

export const createInvitation = async (input: { email: string; role: Role }) => (await api.post<Invitation>("/api/organization/invitations", input)).data;

export const useCreateInvitation = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: createInvitation, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["invitations"] }) });
};
