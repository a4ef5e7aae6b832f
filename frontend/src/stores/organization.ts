import { create } from "zustand";
import { persist } from "zustand/middleware";

type OrganizationState = {
  /** The organization sent as LLMaaS-Organization; null: the caller's personal one. */
  activeOrganizationId: string | null;
  setActiveOrganization: (id: string | null) => void;
};

export const useOrganizationStore = create<OrganizationState>()(
  persist(
    (set) => ({
      activeOrganizationId: null,
      setActiveOrganization: (activeOrganizationId) => set({ activeOrganizationId }),
    }),
    { name: "llmaas.organization" },
  ),
);
