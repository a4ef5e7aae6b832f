import { useEffect, useMemo, useRef, useState } from "react";
import { may, useCurrentMembership } from "@/features/organizations/roles";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useChats, type ChatFilters as Filters } from "../api/get-chats";
import { NO_FILTERS, toRange, useKeyOptions, type ChatFilterValues } from "../filters";
import { ChatFilters } from "./chat-filters";
import { ChatItem } from "./chat-item";
import { ExportButtons } from "./export-buttons";

/**
 * Calls `onVisible` whenever the element scrolls into view (where IntersectionObserver exists).
 * A new `version` (one more page) observes afresh: a sentinel still in view after a short page
 * asks for the next one too.
 */
function useOnVisible(onVisible: () => void, active: boolean, version: number) {
  const ref = useRef<HTMLDivElement>(null);
  const callback = useRef(onVisible);
  useEffect(() => {
    callback.current = onVisible;
  });
  useEffect(() => {
    const node = ref.current;
    if (!active || !node || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && callback.current(), { rootMargin: "400px 0px" });
    observer.observe(node);
    return () => observer.disconnect();
  }, [active, version]);
  return ref;
}

/** Past chats, newest first: filters, exports, infinite scroll with a "Load more" fallback. */
export function ChatHistory() {
  const [values, setValues] = useState<ChatFilterValues>(NO_FILTERS);
  const filters: Filters = useMemo(() => toRange(values), [values]);
  const { membership } = useCurrentMembership();
  const canListKeys = may.listKeys(membership?.role);
  const keys = useKeyOptions(canListKeys);
  const keyNames = useMemo(() => new Map(keys.map((k) => [k.id, `${k.name} (${k.prefix}…)`])), [keys]);
  const chats = useChats(filters);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = chats;
  const sentinel = useOnVisible(() => {
    if (hasNextPage && !isFetchingNextPage) void fetchNextPage();
  }, !!hasNextPage && !isFetchingNextPage, chats.data?.pages.length ?? 0);
  const all = chats.data?.pages.flatMap((p) => p.results) ?? [];
  const filtered = !!(values.key || values.from || values.to);

  return (
    <div className="stack">
      <div className="toolbar">
        <ChatFilters values={values} onChange={setValues} keys={canListKeys ? keys : null} />
        <ExportButtons filters={filters} />
      </div>
      {chats.isPending ? <Loading label="Loading history…" /> : null}
      {chats.isError ? <ErrorMessage error={chats.error} onRetry={() => void chats.refetch()} /> : null}
      {chats.isSuccess && all.length === 0 ? (
        filtered ? (
          <Empty title="No chats match these filters">
            <p>Try another key or a wider date range.</p>
          </Empty>
        ) : (
          <Empty title="No chats kept yet">
            <p>Chats are kept for keys with “Keep chat history” turned on.</p>
          </Empty>
        )
      ) : null}
      {all.length > 0 ? (
        <ol className="chat-list" aria-label="Chats" aria-busy={chats.isFetching}>
          {all.map((chat) => (
            <ChatItem key={chat.call_id} chat={chat} keyName={chat.key_id ? (keyNames.get(chat.key_id) ?? null) : null} />
          ))}
        </ol>
      ) : null}
      {chats.isFetchNextPageError ? <ErrorMessage error={chats.error} /> : null}
      {hasNextPage ? (
        <div ref={sentinel} className="load-more">
          <button type="button" className="button" onClick={() => void fetchNextPage()} disabled={isFetchingNextPage}>
            {isFetchingNextPage ? "Loading…" : "Load more"}
          </button>
        </div>
      ) : all.length > 0 ? (
        <p className="muted">That is every chat{filtered ? " matching the filters" : ""}.</p>
      ) : null}
    </div>
  );
}
