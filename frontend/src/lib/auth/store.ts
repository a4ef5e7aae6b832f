import { create } from "zustand";

export type Tokens = {
  accessToken: string;
  refreshToken: string | null;
  idToken: string | null;
  /** Epoch milliseconds when the access token expires. */
  expiresAt: number;
};

type AuthState = {
  tokens: Tokens | null;
  setTokens: (tokens: Tokens) => void;
  clear: () => void;
};

// In memory only: a reload forgets the tokens and the app silently signs in again.
export const useAuthStore = create<AuthState>()((set) => ({
  tokens: null,
  setTokens: (tokens) => set({ tokens }),
  clear: () => set({ tokens: null }),
}));

export const getTokens = () => useAuthStore.getState().tokens;
