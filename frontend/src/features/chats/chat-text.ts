import type { Chat } from "./api/get-chats";

export type Message = { role?: string; content?: unknown };

export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === "object" && part && "text" in part ? String(part.text) : "")).join(" ");
  return "";
}

export function messagesOf(chat: Chat): Message[] {
  return Array.isArray(chat.messages) ? (chat.messages as Message[]) : [];
}

export function lastPrompt(chat: Chat): string {
  const user = [...messagesOf(chat)].reverse().find((m) => m.role === "user");
  return textOf(user?.content) || "(no prompt)";
}

export function replyOf(chat: Chat): string {
  const response = chat.response as { choices?: { message?: Message }[] } | null;
  return textOf(response?.choices?.[0]?.message?.content) || "(no reply recorded)";
}
