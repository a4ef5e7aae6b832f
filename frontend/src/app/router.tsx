import { lazy, type ReactNode } from "react";
import { AppShell } from "@/components/layout/app-shell";
import { RequireAuth } from "@/lib/auth/require-auth";
import { LandingRoute } from "./routes/landing";
import { CallbackRoute } from "./routes/auth-callback";
import { LoginRoute, SignupRoute } from "./routes/login";
import { NotFoundRoute } from "./routes/not-found";
import { ResetPasswordRoute } from "./routes/reset-password";
import { VerifyEmailRoute } from "./routes/verify-email";

// Pages behind sign-in load on demand: the landing page's first load stays small.
const DashboardRoute = lazy(() => import("./routes/dashboard"));
const KeysRoute = lazy(() => import("./routes/keys"));
const PlaygroundRoute = lazy(() => import("./routes/playground"));
const HistoryRoute = lazy(() => import("./routes/history"));
const SettingsRoute = lazy(() => import("./routes/settings"));

const guarded = (page: ReactNode) => <RequireAuth>{page}</RequireAuth>;

export const routes = [
  { path: "/login", element: <LoginRoute /> },
  { path: "/signup", element: <SignupRoute /> },
  { path: "/auth/callback", element: <CallbackRoute /> },
  {
    element: <AppShell />,
    children: [
      { path: "/", element: <LandingRoute /> },
      // The links of the accounts' mails (accounts/emails.py); no sign-in needed.
      { path: "/verify-email", element: <VerifyEmailRoute /> },
      { path: "/reset-password", element: <ResetPasswordRoute /> },
      { path: "/dashboard/*", element: guarded(<DashboardRoute />) },
      { path: "/keys/*", element: guarded(<KeysRoute />) },
      { path: "/playground/*", element: guarded(<PlaygroundRoute />) },
      { path: "/history/*", element: guarded(<HistoryRoute />) },
      { path: "/settings/*", element: guarded(<SettingsRoute />) },
      { path: "*", element: <NotFoundRoute /> },
    ],
  },
];
