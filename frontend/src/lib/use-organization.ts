import { useOrganizationStore } from "@/stores/organization";

/** The current organization, as part of every query key (switching refetches, no stale mix). */
export function useOrganizationKey(): string {
  return useOrganizationStore((s) => s.activeOrganizationId) ?? "personal";
}
