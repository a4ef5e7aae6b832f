import { PlaygroundForm } from "@/features/playground/components/playground-form";

export default function PlaygroundRoute() {
  return (
    <section className="page">
      <h1>Playground</h1>
      <p className="muted">Send one message with one of your keys. The key is kept in this page only, never stored.</p>
      <PlaygroundForm />
    </section>
  );
}
