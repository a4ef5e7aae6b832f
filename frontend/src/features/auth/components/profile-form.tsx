import { useId, useState, type FormEvent } from "react";
import { ErrorMessage } from "@/components/ui/states";
import { useUpdateMe } from "../api/update-me";
import type { Me } from "../api/get-me";

export function ProfileForm({ me }: { me: Me }) {
  const id = useId();
  const update = useUpdateMe();
  const [name, setName] = useState(me.name);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    update.mutate({ name });
  };
  return (
    <form className="form" onSubmit={submit}>
      <p>
        Signed in as <strong>{me.email}</strong> ({me.status.replace("_", " ")}).
      </p>
      <label htmlFor={`${id}-name`}>Display name</label>
      <input id={`${id}-name`} value={name} maxLength={150} onChange={(e) => setName(e.target.value)} />
      {update.isError ? <ErrorMessage error={update.error} /> : null}
      {update.isSuccess ? <p role="status">Saved.</p> : null}
      <div className="dialog-actions">
        <button type="submit" className="button button-primary" disabled={update.isPending}>
          Save
        </button>
      </div>
    </form>
  );
}
