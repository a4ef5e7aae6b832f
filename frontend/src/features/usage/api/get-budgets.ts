import { useInfiniteQuery, useQueries, useQuery } from "@tanstack/react-query";
import { keyEffectiveQueryOptions } from "@/features/keys/api/get-key-effective";
import { keysQueryOptions } from "@/features/keys/api/get-keys";
import type { BudgetPeriod } from "@/features/keys/types";
import { organizationLimitsQueryOptions } from "@/features/organizations/api/get-limits";
import { may, useCurrentMembership } from "@/features/organizations/roles";
import { useOrganizationKey } from "@/lib/use-organization";

export type BudgetStatus = {
  id: string;
  scope: "org" | "key";
  name: string;
  limitUsd: number;
  /** null: the spend is unknown (no key to read it through, or the role may not see keys). */
  spentUsd: number | null;
  reservedUsd: number;
  /** Spent (and reserved) over the limit, 0..1+; null when unknown. */
  ratio: number | null;
  period: BudgetPeriod;
  resetsAt: string | null;
};

export const WARN_RATIO = 0.9;
const MAX_KEYS = 25; // effective-limit lookups per page view, at most

function ratioOf(limit: number, spent: number, reserved: number): number {
  if (limit <= 0) return 1; // a zero budget allows nothing
  return (spent + reserved) / limit;
}

/**
 * Spend against every budget that applies in the current organization: the organization's
 * (GET /api/organization/limits) and each live key's (its effective limits, which also carry the
 * organization's spend). The API has no spend endpoint of its own: spend comes from a key's
 * effective limits, so roles that may not list keys see the limits without the spend.
 */
export function useBudgets({ enabled = true }: { enabled?: boolean } = {}) {
  const organization = useOrganizationKey();
  const { membership } = useCurrentMembership(enabled); // signed out: not even /api/auth/me
  const role = membership?.role;
  const limits = useQuery({ ...organizationLimitsQueryOptions(organization), enabled: enabled && !!membership });
  const keys = useInfiniteQuery({ ...keysQueryOptions(organization), enabled: enabled && may.listKeys(role) });
  const now = keys.dataUpdatedAt; // expired as of the list's fetch (render stays pure)
  // Live keys of people's own: not revoked, not expired, not the playground's short-lived key
  // (its small lifetime budget is renewed with each new key: no warning for it).
  const live = (keys.data?.pages[0]?.results ?? []).filter(
    (k) => !k.revoked && !k.playground && !(k.expires_at && new Date(k.expires_at).getTime() <= now),
  );
  const orgBudget = limits.data?.budget_usd != null;
  const targets = live.filter((k) => k.budget_usd !== null).slice(0, MAX_KEYS);
  if (orgBudget && targets.length === 0 && live[0]) targets.push(live[0]); // one key reads the organization's spend
  const effective = useQueries({
    queries: targets.map((k) => ({ ...keyEffectiveQueryOptions(organization, k.id), enabled })),
  });

  const budgets: BudgetStatus[] = [];
  let orgSpend: { spent: number; reserved: number; resetsAt: string | null } | null = null;
  effective.forEach((result, i) => {
    const key = targets[i]!;
    for (const b of result.data?.budgets ?? []) {
      const limit = Number(b.limit_usd);
      const spent = Number(b.spent_usd);
      const reserved = Number(b.reserved_usd);
      if (b.scope === "org") {
        orgSpend ??= { spent, reserved, resetsAt: b.resets_at };
      } else if (key.budget_usd !== null) {
        budgets.push({
          id: key.id,
          scope: "key",
          name: key.name,
          limitUsd: limit,
          spentUsd: spent,
          reservedUsd: reserved,
          ratio: ratioOf(limit, spent, reserved),
          period: b.period,
          resetsAt: b.resets_at,
        });
      }
    }
  });
  if (limits.data && limits.data.budget_usd != null) {
    const limit = Number(limits.data.budget_usd);
    const known = orgSpend as { spent: number; reserved: number; resetsAt: string | null } | null;
    budgets.unshift({
      id: limits.data.id,
      scope: "org",
      name: membership?.name ?? "This organization",
      limitUsd: limit,
      spentUsd: known ? known.spent : null,
      reservedUsd: known ? known.reserved : 0,
      ratio: known ? ratioOf(limit, known.spent, known.reserved) : null,
      period: limits.data.budget_period,
      resetsAt: known ? known.resetsAt : null,
    });
  }
  const pending = limits.isPending && limits.fetchStatus !== "idle";
  return {
    budgets,
    isPending: pending || (keys.isPending && keys.fetchStatus !== "idle") || effective.some((e) => e.isPending),
    error: limits.error ?? keys.error ?? effective.find((e) => e.error)?.error ?? null,
    refetch: () => {
      void limits.refetch();
      void keys.refetch();
      effective.forEach((e) => void e.refetch());
    },
  };
}
