import { useId, useState } from "react";
import { Dialog } from "@/components/ui/dialog";
import { formatDate } from "@/components/ui/format";
import { ErrorMessage } from "@/components/ui/states";
import { useRotateKey } from "../api/rotate-key";
import type { ApiKey } from "../types";
import { SecretReveal } from "./secret-reveal";

const GRACE = [
  { seconds: 0, label: "none: the old secret stops now" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "1 day" },
  { seconds: 7 * 86_400, label: "7 days" },
];

export function RotateKeyDialog({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const id = useId();
  const rotate = useRotateKey();
  const [grace, setGrace] = useState(3600);
  // One id per dialog: a retried request repeats the same rotation instead of making two.
  const [rotationId] = useState(() => crypto.randomUUID());
  const result = rotate.data;
  if (result?.secret) {
    return (
      <Dialog title={`New secret for “${apiKey.name}”`} onClose={onClose} dismissible={false}>
        <SecretReveal
          secret={result.secret}
          onDone={onClose}
          note={
            result.previous_secret_expires_at
              ? `The previous secret works until ${formatDate(result.previous_secret_expires_at)}.`
              : "The previous secret no longer works."
          }
        />
      </Dialog>
    );
  }
  return (
    <Dialog title={`Rotate “${apiKey.name}”`} onClose={onClose}>
      <p>A new secret replaces the current one; the key keeps its id, prefix, limits and usage.</p>
      {rotate.isError ? <ErrorMessage error={rotate.error} /> : null}
      {result?.replayed ? <p role="status">This rotation was already made; its secret was shown then.</p> : null}
      <label htmlFor={`${id}-grace`}>Keep the old secret working for</label>
      <select id={`${id}-grace`} value={grace} onChange={(e) => setGrace(Number(e.target.value))} data-autofocus>
        {GRACE.map((g) => (
          <option key={g.seconds} value={g.seconds}>
            {g.label}
          </option>
        ))}
      </select>
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="button button-primary"
          disabled={rotate.isPending}
          onClick={() => rotate.mutate({ id: apiKey.id, rotationId, graceSeconds: grace })}
        >
          {rotate.isPending ? "Rotating…" : "Rotate"}
        </button>
      </div>
    </Dialog>
  );
}
