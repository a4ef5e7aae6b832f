import { Dialog } from "@/components/ui/dialog";
import { ErrorMessage } from "@/components/ui/states";
import { useUpdateKey } from "../api/update-key";
import type { ApiKey } from "../types";
import { KeyForm } from "./key-form";

export function EditKeyDialog({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const update = useUpdateKey();
  return (
    <Dialog title={`Edit “${apiKey.name}”`} onClose={onClose}>
      {update.isError ? <ErrorMessage error={update.error} /> : null}
      <KeyForm
        initial={apiKey}
        submitLabel="Save changes"
        pending={update.isPending}
        onCancel={onClose}
        onSubmit={(changes) => update.mutate({ id: apiKey.id, changes }, { onSuccess: onClose })}
      />
    </Dialog>
  );
}
