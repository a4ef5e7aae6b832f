import { useId, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { ErrorMessage } from "@/components/ui/states";
import { startLogin } from "@/lib/auth/oauth";
import { toApiError } from "@/lib/errors";
import { useConfirmPasswordReset, useRequestPasswordReset } from "../api/password-reset";

const LINK_PROBLEMS: Record<string, string> = {
  token_expired: "This reset link has expired. Ask for a new one below.",
  token_used: "This reset link has already been used. If you did not change your password with it, ask for a new one below.",
  token_invalid: "This reset link is not valid (cut short, or replaced by a newer one). Ask for a new one below.",
};

/** The API's field errors for one field ({"password": ["This password is too short…"]}). */
function fieldErrors(error: unknown, field: string): string[] {
  const details = toApiError(error).details;
  if (typeof details !== "object" || details === null) return [];
  const value = (details as Record<string, unknown>)[field];
  return Array.isArray(value) ? value.filter((m): m is string => typeof m === "string") : typeof value === "string" ? [value] : [];
}

/** Without a token: ask for a link by address. */
function RequestForm({ notice }: { notice?: string }) {
  const request = useRequestPasswordReset();
  const [email, setEmail] = useState("");
  const emailId = useId();
  const errorId = useId();
  const emailErrors = request.isError ? fieldErrors(request.error, "email") : [];
  const submit = (event: FormEvent) => {
    event.preventDefault();
    request.mutate(email.trim());
  };
  if (request.isSuccess) {
    return (
      <div className="stack" role="status">
        <p>
          <strong>{request.data.detail}</strong> Open the link in the mail to choose a new password; it works once, for a
          limited time.
        </p>
        <p className="muted">Nothing after a few minutes? Check the spam folder, or the address you typed: {email.trim()}.</p>
      </div>
    );
  }
  return (
    <form className="form narrow" onSubmit={submit} noValidate>
      {notice ? (
        <div className="state state-error" role="alert">
          <p>{notice}</p>
        </div>
      ) : null}
      <p>Type the address of your account; we mail it a link to choose a new password.</p>
      <label htmlFor={emailId}>Email</label>
      <input
        id={emailId}
        type="email"
        autoComplete="email"
        required
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        aria-invalid={emailErrors.length > 0}
        aria-describedby={emailErrors.length ? errorId : undefined}
      />
      {emailErrors.length ? (
        <small id={errorId} className="field-error">
          {emailErrors.join(" ")}
        </small>
      ) : null}
      {request.isError && !emailErrors.length ? <ErrorMessage error={request.error} /> : null}
      <div className="dialog-actions">
        <button type="submit" className="button button-primary" disabled={request.isPending || !email.trim()}>
          {request.isPending ? "Sending…" : "Mail me a reset link"}
        </button>
      </div>
    </form>
  );
}

/** With the mail's token: choose the new password. */
function ConfirmForm({ token }: { token: string }) {
  const confirm = useConfirmPasswordReset();
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [mismatch, setMismatch] = useState(false);
  const passwordId = useId();
  const repeatId = useId();
  const errorId = useId();
  const error = confirm.isError ? toApiError(confirm.error) : null;
  if (confirm.isSuccess) {
    return (
      <div className="stack" role="status">
        <p>
          <strong>Your password is changed.</strong> Every earlier sign-in of your account has ended; log in with the new
          password.
        </p>
        <div className="row">
          <button type="button" className="button button-primary" onClick={() => void startLogin("/keys")}>
            Log in
          </button>
        </div>
      </div>
    );
  }
  if (error && LINK_PROBLEMS[error.code]) return <RequestForm notice={LINK_PROBLEMS[error.code]} />;
  const passwordErrors = error ? fieldErrors(confirm.error, "password") : [];
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (password !== repeat) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    confirm.mutate({ token, password });
  };
  const problems = [...passwordErrors, ...(mismatch ? ["The two passwords differ."] : [])];
  return (
    <form className="form narrow" onSubmit={submit} noValidate>
      <p>Choose a new password for your account.</p>
      <label htmlFor={passwordId}>New password</label>
      <input
        id={passwordId}
        type="password"
        autoComplete="new-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        aria-invalid={problems.length > 0}
        aria-describedby={problems.length ? errorId : undefined}
      />
      <label htmlFor={repeatId}>Repeat the new password</label>
      <input
        id={repeatId}
        type="password"
        autoComplete="new-password"
        required
        value={repeat}
        onChange={(e) => setRepeat(e.target.value)}
        aria-invalid={mismatch}
      />
      {problems.length ? (
        <ul id={errorId} className="field-error" role="alert">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
      {error && !passwordErrors.length ? <ErrorMessage error={error} /> : null}
      <div className="dialog-actions">
        <Link className="button button-ghost" to="/reset-password">
          Ask for a new link
        </Link>
        <button type="submit" className="button button-primary" disabled={confirm.isPending || !password || !repeat}>
          {confirm.isPending ? "Saving…" : "Set the new password"}
        </button>
      </div>
    </form>
  );
}

/** /reset-password (ask for a link) and /reset-password?token=… (choose the new password). */
export function ResetPassword({ token }: { token: string | null }) {
  return token ? <ConfirmForm key={token} token={token} /> : <RequestForm />;
}
