import { create } from "zustand";
import { persist } from "zustand/middleware";

export type Theme = "dark" | "light";

type UiState = {
  theme: Theme;
  toggleTheme: () => void;
  setTheme: (theme: Theme) => void;
};

// Dark first; the choice is kept across visits (index.html applies it before the first paint).
export const useUiStore = create<UiState>()(
  persist(
    (set) => ({
      theme: "dark",
      toggleTheme: () => set((s) => ({ theme: s.theme === "dark" ? "light" : "dark" })),
      setTheme: (theme) => set({ theme }),
    }),
    { name: "llmaas.ui" },
  ),
);
