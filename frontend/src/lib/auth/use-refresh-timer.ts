import { useEffect } from "react";
import { refreshTokens } from "./oauth";
import { useAuthStore } from "./store";

const EARLY_MS = 60_000;

/** Refreshes the access token a minute before it expires (the 401 path catches what this misses). */
export function useRefreshTimer(): void {
  const expiresAt = useAuthStore((s) => s.tokens?.expiresAt);
  useEffect(() => {
    if (!expiresAt) return;
    const delay = Math.max(expiresAt - Date.now() - EARLY_MS, 5_000);
    const timer = window.setTimeout(() => void refreshTokens().catch(() => undefined), delay);
    return () => window.clearTimeout(timer);
  }, [expiresAt]);
}
