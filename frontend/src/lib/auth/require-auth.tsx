import { useEffect, useState, type ReactNode } from "react";
import { useLocation } from "react-router";
import { Loading, ErrorMessage } from "@/components/ui/states";
import { startLogin } from "./oauth";
import { useAuthStore } from "./store";

/**
 * Pages behind sign-in. Without tokens in memory (first visit, a reload, a lost refresh) the
 * browser goes to the authorization server; with its session there, it comes straight back.
 */
export function RequireAuth({ children }: { children: ReactNode }) {
  const tokens = useAuthStore((s) => s.tokens);
  const location = useLocation();
  const [error, setError] = useState<unknown>(null);
  const returnTo = `${location.pathname}${location.search}`;

  useEffect(() => {
    if (!tokens) startLogin(returnTo).catch(setError);
  }, [tokens, returnTo]);

  if (error) return <ErrorMessage error={error} onRetry={() => startLogin(returnTo).catch(setError)} />;
  if (!tokens) return <Loading label="Signing you in…" />;
  return <>{children}</>;
}
