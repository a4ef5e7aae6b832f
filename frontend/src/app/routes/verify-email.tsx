import { useSearchParams } from "react-router";
import { VerifyEmail } from "@/features/auth/components/verify-email";

export function VerifyEmailRoute() {
  const [params] = useSearchParams();
  return (
    <section className="page auth-page">
      <h1>Confirm your email address</h1>
      <VerifyEmail token={params.get("token")} />
    </section>
  );
}
