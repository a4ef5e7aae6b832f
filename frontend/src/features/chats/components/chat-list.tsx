import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useChats, type Chat } from "../api/get-chats";

type Message = { role?: string; content?: unknown };

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === "object" && part && "text" in part ? String(part.text) : "")).join(" ");
  return "";
}

function lastPrompt(chat: Chat): string {
  const messages = Array.isArray(chat.messages) ? (chat.messages as Message[]) : [];
  const user = [...messages].reverse().find((m) => m.role === "user");
  return textOf(user?.content) || "(no prompt)";
}

function replyOf(chat: Chat): string {
  const response = chat.response as { choices?: { message?: Message }[] } | null;
  return textOf(response?.choices?.[0]?.message?.content) || "(no reply recorded)";
}

export function ChatList() {
  const chats = useChats();
  if (chats.isPending) return <Loading label="Loading history…" />;
  if (chats.isError) return <ErrorMessage error={chats.error} onRetry={() => void chats.refetch()} />;
  const all = chats.data.pages.flatMap((p) => p.results);
  if (all.length === 0) {
    return (
      <Empty title="No chats kept yet">
        <p>Chats are kept for keys with “Keep chat history” turned on.</p>
      </Empty>
    );
  }
  return (
    <>
      <ol className="chat-list">
        {all.map((chat) => (
          <li key={chat.call_id} className="card">
            <p className="muted">
              {formatDate(chat.created_at)} · {chat.model}
            </p>
            <p>
              <strong>You:</strong> {lastPrompt(chat)}
            </p>
            <p>
              <strong>Model:</strong> {replyOf(chat)}
            </p>
          </li>
        ))}
      </ol>
      {chats.hasNextPage ? (
        <button type="button" className="button" onClick={() => void chats.fetchNextPage()} disabled={chats.isFetchingNextPage}>
          {chats.isFetchingNextPage ? "Loading…" : "Show older chats"}
        </button>
      ) : null}
    </>
  );
}
