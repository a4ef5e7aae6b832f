import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { BudgetPeriod } from "@/features/keys/types";
import type { OrganizationLimits } from "./get-limits";

/** What the limits form sends; null clears a limit (unlimited). */
export type LimitsInput = {
  budget_usd: string | null;
  budget_period: BudgetPeriod;
  rpm: number | null;
  tpm: number | null;
  max_parallel: number | null;
  models: string[];
  timezone: string;
};

export const updateLimits = async (input: LimitsInput) => (await api.patch<OrganizationLimits>("/api/organization/limits", input)).data;

export const useUpdateLimits = () => {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: updateLimits,
    onSuccess: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: ["organization-limits"] }),
        queryClient.invalidateQueries({ queryKey: ["key-effective"] }),
      ]),
  });
};
