import { UsageOverview } from "@/features/usage/components/usage-overview";

export default function DashboardRoute() {
  return (
    <section className="page">
      <h1>Dashboard</h1>
      <p className="muted">Usage of the current organization (the keys you may see), last 30 days, UTC days.</p>
      <UsageOverview />
    </section>
  );
}
