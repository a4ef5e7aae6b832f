import { useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { useOrganizationKey } from "@/lib/use-organization";
import { usePlaygroundKeyStore } from "../stores/playground-key";
import type { PlaygroundKey } from "../types";

/** A key is renewed this long before it expires, so a reply never starts on a dying key. */
export const RENEW_BEFORE_MS = 60_000;

export const issuePlaygroundKey = async () => (await api.post<PlaygroundKey>("/api/keys/playground")).data;

function usable(key: PlaygroundKey | null, organization: string | null, wanted: string, now = Date.now()): key is PlaygroundKey {
  return key !== null && organization === wanted && new Date(key.expires_at).getTime() - now > RENEW_BEFORE_MS;
}

let pending: { organization: string; key: Promise<PlaygroundKey> } | null = null;

/** The playground key of this organization: the one in memory while it lasts, else a new one
 * (one request at a time per organization; the server revokes the previous playground key). */
export async function ensurePlaygroundKey(organization: string, { renew = false } = {}): Promise<PlaygroundKey> {
  const { key, organization: owner, setKey } = usePlaygroundKeyStore.getState();
  if (!renew && usable(key, owner, organization)) return key;
  if (pending?.organization === organization) return pending.key;
  const request = issuePlaygroundKey()
    .then((fresh) => {
      setKey(fresh, organization);
      return fresh;
    })
    .finally(() => {
      if (pending?.key === request) pending = null;
    });
  pending = { organization, key: request };
  return request;
}

/** The key for the current organization, renewed shortly before it expires. `current` is the
 * newest one in memory (a 401 during a chat may have replaced it since the query last ran). */
export function usePlaygroundKey() {
  const organization = useOrganizationKey();
  const stored = usePlaygroundKeyStore((s) => (s.organization === organization ? s.key : null));
  const query = useQuery({
    queryKey: ["playground-key", organization],
    queryFn: () => ensurePlaygroundKey(organization),
    staleTime: Infinity,
    gcTime: 0, // the secret stays in the store only
    refetchOnWindowFocus: false,
    refetchInterval: (query) => {
      const key = query.state.data;
      return key ? Math.max(1_000, new Date(key.expires_at).getTime() - Date.now() - RENEW_BEFORE_MS + 1_000) : false;
    },
  });
  return { ...query, current: stored ?? query.data };
}
