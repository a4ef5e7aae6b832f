import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { IssuedKey, KeyInput } from "../types";

export const createKey = async (input: KeyInput) => (await api.post<IssuedKey>("/api/keys/", input)).data;

export const useCreateKey = () => {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createKey,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["keys"] }),
  });
};
