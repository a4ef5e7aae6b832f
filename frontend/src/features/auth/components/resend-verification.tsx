import { ErrorMessage } from "@/components/ui/states";
import { toApiError } from "@/lib/errors";
import { useResendVerification } from "../api/resend-verification";

/** "Send a new link": mails a fresh verification link through the login session (the endpoint
 * refuses tokens); says what to do when that session is gone. */
export function ResendVerification({ label = "Send a new link" }: { label?: string }) {
  const resend = useResendVerification();
  const sessionLost = resend.isError && [401, 403].includes(toApiError(resend.error).status ?? 0);
  return (
    <>
      {resend.isSuccess ? (
        <p>A new link is on its way. Earlier links no longer work.</p>
      ) : (
        <button type="button" className="button" onClick={() => resend.mutate()} disabled={resend.isPending}>
          {resend.isPending ? "Sending…" : label}
        </button>
      )}
      {sessionLost ? (
        <p>Your sign-in session has ended, so the link cannot be re-sent from here. Log out, log in again, and retry.</p>
      ) : resend.isError ? (
        <ErrorMessage error={resend.error} />
      ) : null}
    </>
  );
}
