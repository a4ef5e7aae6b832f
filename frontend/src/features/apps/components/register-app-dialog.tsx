import { useId, useState, type FormEvent } from "react";
import { CopyButton } from "@/components/ui/copy-button";
import { Dialog } from "@/components/ui/dialog";
import { ErrorMessage } from "@/components/ui/states";
import { useRegisterApp, type AppInput, type RegisteredApp } from "../api/register-app";

const lines = (text: string) =>
  text
    .split(/\s+/)
    .map((l) => l.trim())
    .filter(Boolean);

function Registered({ app, onClose }: { app: RegisteredApp; onClose: () => void }) {
  return (
    <Dialog title={`“${app.name}” is registered`} onClose={onClose} dismissible={!app.client_secret}>
      <dl className="facts">
        <dt>Client id</dt>
        <dd className="break">
          <code>{app.client_id}</code>
        </dd>
      </dl>
      {app.client_secret ? (
        <div className="stack">
          <p>
            <strong>Copy the client secret now.</strong> It is shown only once: the server keeps only its hash.
          </p>
          <div className="secret">
            <code data-testid="client-secret" aria-label="Client secret">
              {app.client_secret}
            </code>
            <CopyButton text={app.client_secret} />
          </div>
        </div>
      ) : (
        <p className="muted">A public app has no secret: it signs in with PKCE alone.</p>
      )}
      <div className="dialog-actions">
        <button type="button" className="button button-primary" onClick={onClose} data-autofocus>
          {app.client_secret ? "I have stored it" : "Done"}
        </button>
      </div>
    </Dialog>
  );
}

/** Register a third-party app (owners and admins): auth code + PKCE, exact redirect URIs. */
export function RegisterAppDialog({ onClose }: { onClose: () => void }) {
  const id = useId();
  const [form, setForm] = useState({ name: "", client_type: "confidential" as AppInput["client_type"], redirect_uris: "", logo_url: "" });
  const register = useRegisterApp();
  if (register.isSuccess) return <Registered app={register.data} onClose={onClose} />;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    register.mutate({
      name: form.name.trim(),
      client_type: form.client_type,
      redirect_uris: lines(form.redirect_uris),
      post_logout_redirect_uris: [],
      logo_url: form.logo_url.trim(),
    });
  };
  return (
    <Dialog title="Register an OAuth app" onClose={onClose}>
      <form className="form" onSubmit={submit}>
        <label htmlFor={`${id}-name`}>Name</label>
        <input id={`${id}-name`} required maxLength={100} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} data-autofocus />
        <label htmlFor={`${id}-type`}>Client type</label>
        <select id={`${id}-type`} value={form.client_type} onChange={(e) => setForm({ ...form, client_type: e.target.value as AppInput["client_type"] })}>
          <option value="confidential">Confidential: a server that keeps a secret</option>
          <option value="public">Public: a browser or native app (PKCE, no secret)</option>
        </select>
        <label htmlFor={`${id}-uris`}>Redirect URIs</label>
        <textarea id={`${id}-uris`} required rows={3} value={form.redirect_uris} onChange={(e) => setForm({ ...form, redirect_uris: e.target.value })} />
        <small>One per line; matched exactly: https, or http on localhost, 127.0.0.1 or [::1].</small>
        <label htmlFor={`${id}-logo`}>Logo URL (optional)</label>
        <input id={`${id}-logo`} type="url" value={form.logo_url} onChange={(e) => setForm({ ...form, logo_url: e.target.value })} />
        {register.isError ? <ErrorMessage error={register.error} /> : null}
        <div className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={register.isPending}>
            {register.isPending ? "Registering…" : "Register app"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
