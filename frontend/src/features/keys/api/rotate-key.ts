import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { RotatedKey } from "../types";

export type RotateInput = { id: string; rotationId: string; graceSeconds: number };

export const rotateKey = async ({ id, rotationId, graceSeconds }: RotateInput) =>
  (await api.post<RotatedKey>(`/api/keys/${id}/rotate`, { rotation_id: rotationId, grace_seconds: graceSeconds })).data;

export const useRotateKey = () => {
  const queryClient = useQueryClient();
  return useMutation({ mutationFn: rotateKey, onSuccess: () => queryClient.invalidateQueries({ queryKey: ["keys"] }) });
};
