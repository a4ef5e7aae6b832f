import { useState } from "react";
import { CreateKeyDialog } from "@/features/keys/components/create-key-dialog";
import { EditKeyDialog } from "@/features/keys/components/edit-key-dialog";
import { EffectiveLimitsDialog } from "@/features/keys/components/effective-limits-dialog";
import { KeysList, type KeyAction } from "@/features/keys/components/keys-list";
import { RevokeKeyDialog } from "@/features/keys/components/revoke-key-dialog";
import { RotateKeyDialog } from "@/features/keys/components/rotate-key-dialog";
import type { ApiKey } from "@/features/keys/types";

type Open = { action: KeyAction; key: ApiKey } | { action: "create" } | null;

export default function KeysRoute() {
  const [open, setOpen] = useState<Open>(null);
  const close = () => setOpen(null);
  return (
    <section className="page">
      <div className="page-header">
        <h1>API keys</h1>
        <button type="button" className="button button-primary" onClick={() => setOpen({ action: "create" })}>
          Create key
        </button>
      </div>
      <p className="muted">Keys call the OpenAI-compatible API at /v1. A secret is shown once, when it is made.</p>
      <KeysList onAction={(action, key) => setOpen({ action, key })} onCreate={() => setOpen({ action: "create" })} />
      {open?.action === "create" ? <CreateKeyDialog onClose={close} /> : null}
      {open?.action === "edit" ? <EditKeyDialog apiKey={open.key} onClose={close} /> : null}
      {open?.action === "rotate" ? <RotateKeyDialog apiKey={open.key} onClose={close} /> : null}
      {open?.action === "revoke" ? <RevokeKeyDialog apiKey={open.key} onClose={close} /> : null}
      {open?.action === "effective" ? <EffectiveLimitsDialog apiKey={open.key} onClose={close} /> : null}
    </section>
  );
}
