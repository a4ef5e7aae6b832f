import { useId, useState } from "react";
import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useNotifications } from "../api/get-notifications";
import { useMarkNotificationRead } from "../api/mark-notification-read";

/** The caller's notifications in this organization (budget alerts…), with mark-as-read. */
export function NotificationsList() {
  const toggleId = useId();
  const [unreadOnly, setUnreadOnly] = useState(false);
  const notifications = useNotifications(unreadOnly);
  const markRead = useMarkNotificationRead();
  const all = notifications.data?.pages.flatMap((p) => p.results) ?? [];
  return (
    <div className="stack">
      <label className="checkbox" htmlFor={toggleId}>
        <input id={toggleId} type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.target.checked)} />
        Unread only
      </label>
      {notifications.isPending ? <Loading label="Loading notifications…" /> : null}
      {notifications.isError ? <ErrorMessage error={notifications.error} onRetry={() => void notifications.refetch()} /> : null}
      {markRead.isError ? <ErrorMessage error={markRead.error} /> : null}
      {notifications.isSuccess && all.length === 0 ? (
        <Empty title={unreadOnly ? "Nothing unread" : "No notifications"}>
          <p>Budget alerts (at 90 % and 100 %) show up here.</p>
        </Empty>
      ) : null}
      {all.length > 0 ? (
        <ul className="notifications" aria-label="Notifications">
          {all.map((n) => (
            <li key={n.id} className={n.read_at ? "card notification" : "card notification notification-unread"}>
              <div className="notification-head">
                <p className="notification-title">
                  {n.read_at ? null : <span className="badge">new</span>} <strong>{n.title}</strong>
                </p>
                {n.read_at ? null : (
                  <button
                    type="button"
                    className="button button-small"
                    disabled={markRead.isPending && markRead.variables === n.id}
                    onClick={() => markRead.mutate(n.id)}
                    aria-label={`Mark “${n.title}” as read`}
                  >
                    Mark as read
                  </button>
                )}
              </div>
              <p>{n.body}</p>
              <p className="muted">{formatDate(n.created_at)}</p>
            </li>
          ))}
        </ul>
      ) : null}
      {notifications.hasNextPage ? (
        <div>
          <button type="button" className="button" onClick={() => void notifications.fetchNextPage()} disabled={notifications.isFetchingNextPage}>
            {notifications.isFetchingNextPage ? "Loading…" : "Show older notifications"}
          </button>
        </div>
      ) : null}
    </div>
  );
}
