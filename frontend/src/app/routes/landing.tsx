import { Link } from "react-router";
import { Quickstart } from "@/features/docs/components/quickstart";
import { useOrganizationLimits } from "@/features/organizations/api/get-limits";
import { startLogin, startSignup } from "@/lib/auth/oauth";
import { useAuthStore } from "@/lib/auth/store";

const DEFAULT_MODEL = "smollm2"; // the model the one-host stack serves

function SignedInModel() {
  const limits = useOrganizationLimits();
  return <Quickstart model={limits.data?.models[0] ?? DEFAULT_MODEL} />;
}

export function LandingRoute() {
  const signedIn = useAuthStore((s) => s.tokens !== null);
  return (
    <section className="page">
      <div className="hero">
        <h1>LLMs behind one OpenAI-compatible endpoint</h1>
        <p>Get a key, point your OpenAI SDK at this instance, and watch usage and spend per key.</p>
        {signedIn ? (
          <Link className="button button-primary" to="/keys">
            Create an API key
          </Link>
        ) : (
          <div className="row">
            <button type="button" className="button button-primary" onClick={() => void startSignup("/keys")}>
              Sign up
            </button>
            <button type="button" className="button" onClick={() => void startLogin("/keys")}>
              Log in
            </button>
          </div>
        )}
      </div>
      {signedIn ? <SignedInModel /> : <Quickstart model={DEFAULT_MODEL} />}
    </section>
  );
}
