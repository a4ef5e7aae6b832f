import type { Me } from "../api/get-me";
import { ResendVerification } from "./resend-verification";

/** What an account still needs before it can create keys, and how to get there. */
export function AccountStatus({ me }: { me: Me }) {
  if (me.status === "active") return null;
  if (me.status === "pending_approval") {
    return (
      <div className="banner banner-warning" role="status">
        <strong>Your account is waiting for approval.</strong> An operator of this instance must approve it before you can
        create keys. You can look around meanwhile; nothing else is needed from you.
      </div>
    );
  }
  return (
    <div className="banner banner-warning" role="status">
      <p>
        <strong>Confirm your email address.</strong> We sent a link to <strong>{me.email}</strong>; open it to start creating
        keys.
      </p>
      <ResendVerification />
    </div>
  );
}
