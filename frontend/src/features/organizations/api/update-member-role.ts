import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { Role } from "../roles";
import type { Member } from "./get-members";

export const updateMemberRole = async ({ userId, role }: { userId: string; role: Role }) =>
  (await api.patch<Member>(`/api/organization/members/${encodeURIComponent(userId)}`, { role })).data;

export const useUpdateMemberRole = () => {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: updateMemberRole,
    onSuccess: () => Promise.all([queryClient.invalidateQueries({ queryKey: ["members"] }), queryClient.invalidateQueries({ queryKey: ["me"] })]),
  });
};
