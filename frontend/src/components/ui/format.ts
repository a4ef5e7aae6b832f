export function formatDate(value: string | null | undefined, fallback = "never"): string {
  if (!value) return fallback;
  return new Date(value).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatUsd(value: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  const n = Number(value);
  return `$${n < 0.01 && n > 0 ? n.toFixed(6) : n.toFixed(2)}`;
}

export function formatNumber(value: number | null | undefined, unlimited = "unlimited"): string {
  return value === null || value === undefined ? unlimited : value.toLocaleString();
}
