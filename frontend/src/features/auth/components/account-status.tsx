import { ErrorMessage } from "@/components/ui/states";
import { toApiError } from "@/lib/errors";
import { useResendVerification } from "../api/resend-verification";
import type { Me } from "../api/get-me";

/** What an account still needs before it can create keys, and how to get there. */
export function AccountStatus({ me }: { me: Me }) {
  const resend = useResendVerification();
  if (me.status === "active") return null;
  if (me.status === "pending_approval") {
    return (
      <div className="banner banner-warning" role="status">
        <strong>Your account is waiting for approval.</strong> An operator of this instance must approve it before you can
        create keys. You can look around meanwhile; nothing else is needed from you.
      </div>
    );
  }
  const sessionLost = resend.isError && [401, 403].includes(toApiError(resend.error).status ?? 0);
  return (
    <div className="banner banner-warning" role="status">
      <p>
        <strong>Confirm your email address.</strong> We sent a link to <strong>{me.email}</strong>; open it to start creating
        keys.
      </p>
      {resend.isSuccess ? (
        <p>A new link is on its way. Earlier links no longer work.</p>
      ) : (
        <button type="button" className="button" onClick={() => resend.mutate()} disabled={resend.isPending}>
          {resend.isPending ? "Sending…" : "Send a new link"}
        </button>
      )}
      {sessionLost ? (
        <p>Your sign-in session has ended, so the link cannot be re-sent from here. Log out, log in again, and retry.</p>
      ) : resend.isError ? (
        <ErrorMessage error={resend.error} />
      ) : null}
    </div>
  );
}
