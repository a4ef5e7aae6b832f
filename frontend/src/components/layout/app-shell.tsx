import { useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { Suspense } from "react";
import { AccountStatus } from "@/features/auth/components/account-status";
import { useMe } from "@/features/auth/api/get-me";
import { OrganizationSwitcher } from "@/features/organizations/components/organization-switcher";
import { BudgetBanner } from "@/features/usage/components/budget-banner";
import { logout, startLogin, startSignup } from "@/lib/auth/oauth";
import { useAuthStore } from "@/lib/auth/store";
import { Loading } from "@/components/ui/states";
import { ThemeToggle } from "./theme-toggle";

const NAV = [
  { to: "/", label: "Quickstart", end: true },
  { to: "/dashboard", label: "Dashboard" },
  { to: "/keys", label: "API keys" },
  { to: "/playground", label: "Playground" },
  { to: "/history", label: "History" },
  { to: "/settings", label: "Settings" },
];

function Account() {
  const signedIn = useAuthStore((s) => s.tokens !== null);
  const me = useMe(signedIn);
  if (!signedIn) {
    return (
      <div className="account">
        <button type="button" className="button button-ghost" onClick={() => void startLogin()}>
          Log in
        </button>
        <button type="button" className="button button-primary" onClick={() => void startSignup()}>
          Sign up
        </button>
      </div>
    );
  }
  return (
    <div className="account">
      <OrganizationSwitcher />
      <span className="account-email" title={me.data?.email}>
        {me.data?.name || me.data?.email}
      </span>
      <button type="button" className="button button-ghost" onClick={logout}>
        Log out
      </button>
    </div>
  );
}

function StatusBanner() {
  const signedIn = useAuthStore((s) => s.tokens !== null);
  const me = useMe(signedIn);
  return signedIn && me.data ? <AccountStatus me={me.data} /> : null;
}

export function AppShell() {
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">LLMaaS</span>
        <button
          type="button"
          className="button button-ghost menu-button"
          aria-expanded={menuOpen}
          aria-controls="primary-nav"
          onClick={() => setMenuOpen((open) => !open)}
        >
          Menu
        </button>
        <nav id="primary-nav" aria-label="Main" className={menuOpen ? "nav nav-open" : "nav"} onClick={() => setMenuOpen(false)}>
          {NAV.map((item) => (
            <NavLink key={item.to} to={item.to} end={item.end} className="nav-link">
              {item.label}
            </NavLink>
          ))}
        </nav>
        <div className="topbar-end">
          <ThemeToggle />
          <Account />
        </div>
      </header>
      <main id="main" className="main" tabIndex={-1}>
        <StatusBanner />
        <BudgetBanner />
        <Suspense key={location.pathname} fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}
