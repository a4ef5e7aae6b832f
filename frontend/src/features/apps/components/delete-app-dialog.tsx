import { Dialog } from "@/components/ui/dialog";
import { ErrorMessage } from "@/components/ui/states";
import { useDeleteApp } from "../api/delete-app";
import type { OAuthApp } from "../api/get-apps";

export function DeleteAppDialog({ app, onClose }: { app: OAuthApp; onClose: () => void }) {
  const remove = useDeleteApp();
  return (
    <Dialog title={`Delete “${app.name}”?`} onClose={onClose}>
      <p>
        The API keys issued to it and every user's tokens of it are revoked first, then the app is deleted: its sign-ins stop at once. This
        cannot be undone.
      </p>
      {remove.isError ? <ErrorMessage error={remove.error} /> : null}
      <div className="dialog-actions">
        <button type="button" className="button" onClick={onClose} data-autofocus>
          Cancel
        </button>
        <button type="button" className="button button-danger" disabled={remove.isPending} onClick={() => remove.mutate(app.client_id, { onSuccess: onClose })}>
          {remove.isPending ? "Deleting…" : "Delete app"}
        </button>
      </div>
    </Dialog>
  );
}
