import { Dialog } from "@/components/ui/dialog";
import { ErrorMessage } from "@/components/ui/states";
import { useRevokeKey } from "../api/revoke-key";
import type { ApiKey } from "../types";

export function RevokeKeyDialog({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const revoke = useRevokeKey();
  return (
    <Dialog title={`Revoke “${apiKey.name}”?`} onClose={onClose}>
      <p>
        Every application using <code>{apiKey.prefix}…</code> stops working within a second. This cannot be undone; the key stays
        listed with its usage.
      </p>
      {revoke.isError ? <ErrorMessage error={revoke.error} /> : null}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose} data-autofocus>
          Cancel
        </button>
        <button type="button" className="button button-danger" disabled={revoke.isPending} onClick={() => revoke.mutate(apiKey.id, { onSuccess: onClose })}>
          {revoke.isPending ? "Revoking…" : "Revoke key"}
        </button>
      </div>
    </Dialog>
  );
}
