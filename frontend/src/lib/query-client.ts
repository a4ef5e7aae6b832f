import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "@/lib/errors";

/** Server errors and lost connections are retried with back-off; a 4xx answer is final. */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (failureCount >= 3) return false;
  if (!(error instanceof ApiError) || error.status === null) return true;
  return error.status >= 500 || error.status === 429;
}

export function retryDelay(attempt: number): number {
  return Math.min(500 * 2 ** attempt, 8000);
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: shouldRetry, retryDelay, staleTime: 15_000, refetchOnWindowFocus: false },
      mutations: { retry: false },
    },
  });
}
