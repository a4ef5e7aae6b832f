import { useId, useState, type FormEvent } from "react";
import { ErrorMessage, Loading } from "@/components/ui/states";
import { useRetention, type Retention } from "../api/get-retention";
import { useUpdateRetention } from "../api/update-retention";

const days = (n: number) => `${n.toLocaleString()} ${n === 1 ? "day" : "days"}`;

function toDays(value: string): number | null {
  return value.trim() === "" ? null : Number(value);
}

function RetentionForm({ retention, onDone }: { retention: Retention; onDone: () => void }) {
  const logsId = useId();
  const chatsId = useId();
  const [logs, setLogs] = useState(retention.log_retention_days?.toString() ?? "");
  const [chats, setChats] = useState(retention.chat_retention_days?.toString() ?? "");
  const update = useUpdateRetention();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    update.mutate({ log_retention_days: toDays(logs), chat_retention_days: toDays(chats) }, { onSuccess: onDone });
  };
  return (
    <form className="form" onSubmit={submit} aria-label="Retention">
      <div className="grid-2">
        <div className="form">
          <label htmlFor={logsId}>Keep request logs for (days)</label>
          <input id={logsId} type="number" min={1} max={retention.platform_log_retention_days} inputMode="numeric" value={logs} onChange={(e) => setLogs(e.target.value)} />
          <small>Empty: the platform's {days(retention.platform_log_retention_days)}.</small>
        </div>
        <div className="form">
          <label htmlFor={chatsId}>Keep chats for (days)</label>
          <input id={chatsId} type="number" min={1} max={retention.platform_chat_retention_days} inputMode="numeric" value={chats} onChange={(e) => setChats(e.target.value)} />
          <small>Empty: the platform's {days(retention.platform_chat_retention_days)}.</small>
        </div>
      </div>
      {update.isError ? <ErrorMessage error={update.error} /> : null}
      <div className="row">
        <button type="submit" className="button button-primary" disabled={update.isPending}>
          {update.isPending ? "Saving…" : "Save retention"}
        </button>
        <button type="button" className="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** How long this organization's request logs and chats are kept (at most the platform's). */
export function RetentionSection({ canEdit }: { canEdit: boolean }) {
  const retention = useRetention();
  const [editing, setEditing] = useState(false);
  if (retention.isPending) return <Loading />;
  if (retention.isError) return <ErrorMessage error={retention.error} onRetry={() => void retention.refetch()} />;
  const r = retention.data;
  if (editing) return <RetentionForm retention={r} onDone={() => setEditing(false)} />;
  return (
    <div className="stack">
      <dl className="facts">
        <dt>Request logs</dt>
        <dd>
          {days(r.effective_log_retention_days)} {r.log_retention_days === null ? <span className="muted">(the platform's)</span> : null}
        </dd>
        <dt>Chats</dt>
        <dd>
          {days(r.effective_chat_retention_days)} {r.chat_retention_days === null ? <span className="muted">(the platform's)</span> : null}
        </dd>
      </dl>
      {canEdit ? (
        <div>
          <button type="button" className="button" onClick={() => setEditing(true)}>
            Change retention
          </button>
        </div>
      ) : null}
    </div>
  );
}
