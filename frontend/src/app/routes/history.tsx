import { ChatHistory } from "@/features/chats/components/chat-list";

export default function HistoryRoute() {
  return (
    <section className="page">
      <h1>History</h1>
      <p className="muted">Conversations made with keys that keep chat history, newest first.</p>
      <ChatHistory />
    </section>
  );
}
