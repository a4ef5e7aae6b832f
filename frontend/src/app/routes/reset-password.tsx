import { useSearchParams } from "react-router";
import { ResetPassword } from "@/features/auth/components/reset-password";

export function ResetPasswordRoute() {
  const [params] = useSearchParams();
  const token = params.get("token");
  return (
    <section className="page auth-page">
      <h1>{token ? "Choose a new password" : "Reset your password"}</h1>
      <ResetPassword token={token} />
    </section>
  );
}
