import { useEffect, useState } from "react";
import { useSearchParams } from "react-router";
import { ErrorMessage, Loading } from "@/components/ui/states";
import { startLogin, startSignup } from "@/lib/auth/oauth";

function Redirecting({ start, label }: { start: (returnTo?: string) => Promise<void>; label: string }) {
  const [params] = useSearchParams();
  const returnTo = params.get("next") ?? undefined;
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    start(returnTo).catch(setError);
  }, [start, returnTo]);
  return (
    <main className="center">
      {error ? <ErrorMessage error={error} onRetry={() => start(returnTo).catch(setError)} /> : <Loading label={label} />}
    </main>
  );
}

export function LoginRoute() {
  return <Redirecting start={startLogin} label="Taking you to the login page…" />;
}

export function SignupRoute() {
  return <Redirecting start={startSignup} label="Taking you to the sign-up page…" />;
}
