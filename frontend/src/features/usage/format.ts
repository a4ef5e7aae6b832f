import type { BudgetStatus } from "./api/get-budgets";
import type { Metric } from "./series";

/** A metric's value in words: whole numbers, or USD with enough digits to show tiny costs. */
export function formatMetric(value: number, metric: Metric): string {
  if (metric === "cost_usd") return value > 0 && value < 0.01 ? `$${value.toFixed(6)}` : `$${value.toFixed(2)}`;
  return Math.round(value).toLocaleString();
}

export function budgetName(b: BudgetStatus): string {
  return b.scope === "org" ? `Organization “${b.name}”` : `API key “${b.name}”`;
}
