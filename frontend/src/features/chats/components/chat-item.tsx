import { memo } from "react";
import { formatDate } from "@/components/ui/format";
import type { Chat } from "../api/get-chats";
import { lastPrompt, messagesOf, replyOf, textOf } from "../chat-text";

/** One stored chat: when, which model and key, the last prompt and the reply; the rest folded. */
export const ChatItem = memo(function ChatItem({ chat, keyName }: { chat: Chat; keyName: string | null }) {
  const messages = messagesOf(chat);
  return (
    <li className="card chat-item" data-testid="chat-item">
      <p className="muted chat-meta">
        <time dateTime={chat.created_at}>{formatDate(chat.created_at)}</time> · {chat.model}
        {keyName ? ` · ${keyName}` : ""}
      </p>
      <p>
        <strong>You:</strong> {lastPrompt(chat)}
      </p>
      <p className="reply">
        <strong>Model:</strong> {replyOf(chat)}
      </p>
      {messages.length > 1 ? (
        <details>
          <summary>Whole conversation ({messages.length} messages)</summary>
          <ol className="messages">
            {messages.map((m, i) => (
              <li key={i}>
                <strong>{m.role ?? "message"}:</strong> <span className="reply">{textOf(m.content)}</span>
              </li>
            ))}
          </ol>
        </details>
      ) : null}
    </li>
  );
});
