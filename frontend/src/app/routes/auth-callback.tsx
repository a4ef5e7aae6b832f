import { useEffect, useState } from "react";
import { Link, useNavigate } from "react-router";
import { ErrorMessage, Loading } from "@/components/ui/states";
import { completeLogin } from "@/lib/auth/oauth";

export function CallbackRoute() {
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    completeLogin(window.location.search)
      .then((returnTo) => navigate(returnTo, { replace: true }))
      .catch(setError);
  }, [navigate]);
  return (
    <main className="center">
      {error ? (
        <div className="stack">
          <h1>Sign-in failed</h1>
          <ErrorMessage error={error} />
          <Link className="button button-primary" to="/login">
            Log in again
          </Link>
        </div>
      ) : (
        <Loading label="Signing you in…" />
      )}
    </main>
  );
}
