import { useEffect } from "react";
import { useLocation } from "react-router";
import { NotificationsList } from "@/features/notifications/components/notifications-list";
import { BudgetsPanel } from "@/features/usage/components/budgets-panel";
import { UsageDashboard } from "@/features/usage/components/usage-dashboard";

export default function DashboardRoute() {
  const { hash } = useLocation();
  useEffect(() => {
    if (hash) document.getElementById(hash.slice(1))?.scrollIntoView();
  }, [hash]);
  return (
    <section className="page">
      <h1>Dashboard</h1>
      <p className="muted">Usage of the current organization (the keys your role may see), in UTC buckets.</p>
      <section aria-labelledby="usage-heading">
        <h2 id="usage-heading">Usage</h2>
        <UsageDashboard />
      </section>
      <section aria-labelledby="budgets">
        <h2 id="budgets" tabIndex={-1}>
          Budgets
        </h2>
        <BudgetsPanel />
      </section>
      <section aria-labelledby="notifications-heading">
        <h2 id="notifications-heading">Notifications</h2>
        <NotificationsList />
      </section>
    </section>
  );
}
