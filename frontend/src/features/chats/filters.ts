import { useInfiniteQuery } from "@tanstack/react-query";
import { keysQueryOptions } from "@/features/keys/api/get-keys";
import { useOrganizationKey } from "@/lib/use-organization";

/** What the person picks: a key id, and UTC dates (YYYY-MM-DD), both ends included. */
export type ChatFilterValues = { key: string; from: string; to: string };

export const NO_FILTERS: ChatFilterValues = { key: "", from: "", to: "" };

/** Dates → the API's range [start, end): the first day's midnight to the day after the last (UTC). */
export function toRange(values: ChatFilterValues): { key?: string; start?: string; end?: string } {
  const range: { key?: string; start?: string; end?: string } = {};
  if (values.key) range.key = values.key;
  if (values.from) range.start = `${values.from}T00:00:00Z`;
  if (values.to) {
    const day = new Date(`${values.to}T00:00:00Z`);
    if (!Number.isNaN(day.getTime())) range.end = new Date(day.getTime() + 86_400_000).toISOString().replace(".000Z", "Z");
  }
  return range;
}

export function useKeyOptions(enabled: boolean) {
  const keys = useInfiniteQuery({ ...keysQueryOptions(useOrganizationKey()), enabled });
  return (keys.data?.pages ?? []).flatMap((p) => p.results);
}
