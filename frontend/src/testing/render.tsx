import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router";
import { useAuthStore } from "@/lib/auth/store";

/** A page as a signed-in user sees it, without retries (a failure shows at once). */
export function renderPage(page: ReactNode, { path = "/" }: { path?: string } = {}) {
  useAuthStore.getState().setTokens({ accessToken: "access-1", refreshToken: "refresh-1", idToken: null, expiresAt: Date.now() + 600_000 });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>{page}</MemoryRouter>
    </QueryClientProvider>,
  );
}
