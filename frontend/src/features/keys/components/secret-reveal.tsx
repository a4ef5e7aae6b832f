import { CopyButton } from "@/components/ui/copy-button";

/** The one time a key's secret is on screen: copy it now, it is never shown again. */
export function SecretReveal({ secret, onDone, note }: { secret: string; onDone: () => void; note?: string }) {
  return (
    <div className="stack">
      <p>
        <strong>Copy this secret now.</strong> It is shown only once: the server keeps only its hash.
      </p>
      {note ? <p className="muted">{note}</p> : null}
      <div className="secret">
        <code data-testid="key-secret" aria-label="Key secret">
          {secret}
        </code>
        <CopyButton text={secret} />
      </div>
      <div className="dialog-actions">
        <button type="button" className="button button-primary" onClick={onDone} data-autofocus>
          I have stored it
        </button>
      </div>
    </div>
  );
}
