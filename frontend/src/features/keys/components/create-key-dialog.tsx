import { useState } from "react";
import { Dialog } from "@/components/ui/dialog";
import { ErrorMessage } from "@/components/ui/states";
import { useCreateKey } from "../api/create-key";
import { KeyForm } from "./key-form";
import { SecretReveal } from "./secret-reveal";

export function CreateKeyDialog({ onClose }: { onClose: () => void }) {
  const create = useCreateKey();
  // The secret lives in this dialog's state only; closing the dialog forgets it.
  const [secret, setSecret] = useState<string | null>(null);
  if (secret) {
    return (
      <Dialog title="Your new key" onClose={onClose} dismissible={false}>
        <SecretReveal secret={secret} onDone={onClose} />
      </Dialog>
    );
  }
  return (
    <Dialog title="Create an API key" onClose={onClose}>
      {create.isError ? <ErrorMessage error={create.error} /> : null}
      <KeyForm submitLabel="Create key" pending={create.isPending} onCancel={onClose} onSubmit={(input) => create.mutate(input, { onSuccess: (key) => setSecret(key.secret) })} />
    </Dialog>
  );
}
