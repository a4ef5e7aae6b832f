import { Playground } from "@/features/playground/components/playground";

export default function PlaygroundRoute() {
  return (
    <section className="page">
      <h1>Playground</h1>
      <p className="muted">
        Chat with a model, streamed. The page gets a short-lived, budget-capped key of its own; it lives in memory only and is replaced when
        it expires.
      </p>
      <Playground />
    </section>
  );
}
