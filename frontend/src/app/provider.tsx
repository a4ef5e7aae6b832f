import { QueryClientProvider, type QueryClient } from "@tanstack/react-query";
import { useEffect, useState, type ReactNode } from "react";
import { useRefreshTimer } from "@/lib/auth/use-refresh-timer";
import { createQueryClient } from "@/lib/query-client";
import { useUiStore } from "@/stores/ui";

function ThemeSync() {
  const theme = useUiStore((s) => s.theme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  return null;
}

function RefreshTimer() {
  useRefreshTimer();
  return null;
}

export function AppProvider({ children, queryClient }: { children: ReactNode; queryClient?: QueryClient }) {
  const [client] = useState(() => queryClient ?? createQueryClient());
  return (
    <QueryClientProvider client={client}>
      <ThemeSync />
      <RefreshTimer />
      {children}
    </QueryClientProvider>
  );
}
