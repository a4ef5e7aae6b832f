import { create } from "zustand";
import type { PlaygroundKey } from "../types";

type PlaygroundKeyState = {
  /** The playground's key and the organization it belongs to: in memory only, never persisted. */
  key: PlaygroundKey | null;
  organization: string | null;
  setKey: (key: PlaygroundKey, organization: string) => void;
  clear: () => void;
};

// No `persist`: a reload or a closed tab forgets the key, which expires on its own anyway.
export const usePlaygroundKeyStore = create<PlaygroundKeyState>()((set) => ({
  key: null,
  organization: null,
  setKey: (key, organization) => set({ key, organization }),
  clear: () => set({ key: null, organization: null }),
}));
