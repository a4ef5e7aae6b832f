import { useEffect, useRef } from "react";
import { Link } from "react-router";
import { ErrorMessage, Loading } from "@/components/ui/states";
import { startLogin } from "@/lib/auth/oauth";
import { toApiError } from "@/lib/errors";
import { useVerifyEmail } from "../api/verify-email";
import { ResendVerification } from "./resend-verification";

/** What a refused link means, by the API's code (accounts/tokens.py). */
const LINK_PROBLEMS: Record<string, { title: string; help: string }> = {
  token_expired: {
    title: "This link has expired.",
    help: "Links in our mails work for a limited time. Ask for a new one below; it replaces every earlier link.",
  },
  token_used: {
    title: "This link has already been used.",
    help: "If you opened it before, your address is already confirmed: just log in. Otherwise ask for a new link.",
  },
  token_invalid: {
    title: "This link is not valid.",
    help: "It may have been cut short by your mail program, or replaced by a newer link. Copy the whole link from the latest mail, or ask for a new one.",
  },
};

function LogInButton({ children = "Log in" }: { children?: string }) {
  return (
    <button type="button" className="button button-primary" onClick={() => void startLogin("/keys")}>
      {children}
    </button>
  );
}

/** /verify-email?token=…: confirms the address with the mail's one-time token, once. */
export function VerifyEmail({ token }: { token: string | null }) {
  const verify = useVerifyEmail();
  const { mutate } = verify;
  const sent = useRef<string | null>(null);
  useEffect(() => {
    // Once per token, even when React runs effects twice (StrictMode): the token works once.
    if (!token || sent.current === token) return;
    sent.current = token;
    mutate(token);
  }, [token, mutate]);

  if (!token) {
    return (
      <div className="stack">
        <p>
          This page confirms your email address from the link we mailed you. Open the link from the mail: it ends in{" "}
          <code>?token=…</code>.
        </p>
        <p>No mail? While you are logged in, ask for a new link here.</p>
        <div className="stack align-start">
          <ResendVerification />
        </div>
      </div>
    );
  }
  if (verify.isSuccess) {
    return (
      <div className="stack" role="status">
        <p>
          <strong>Your email address is confirmed.</strong> Log in to create API keys. If this instance approves new accounts,
          the portal tells you while yours waits for an operator.
        </p>
        <div className="row">
          <LogInButton>Log in and create a key</LogInButton>
          <Link className="button" to="/">
            Read the quickstart
          </Link>
        </div>
      </div>
    );
  }
  if (verify.isError) {
    const error = toApiError(verify.error);
    const problem = LINK_PROBLEMS[error.code];
    if (!problem) return <ErrorMessage error={error} onRetry={() => mutate(token)} />;
    return (
      <div className="stack">
        <div className="state state-error" role="alert">
          <p>{problem.title}</p>
        </div>
        <p>{problem.help}</p>
        {error.code === "token_used" ? (
          <div className="row">
            <LogInButton />
          </div>
        ) : null}
        <div className="stack align-start">
          <ResendVerification label="Send me a new link" />
        </div>
      </div>
    );
  }
  return <Loading label="Confirming your email address…" />;
}
