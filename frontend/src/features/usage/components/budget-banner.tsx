import { Link } from "react-router";
import { useAuthStore } from "@/lib/auth/store";
import { useBudgets, WARN_RATIO } from "../api/get-budgets";
import { budgetName, formatMetric } from "../format";

/** On every page, signed in: a warning once any budget is 90 % used (calls are refused at 100 %). */
export function BudgetBanner() {
  const signedIn = useAuthStore((s) => s.tokens !== null);
  const { budgets } = useBudgets({ enabled: signedIn });
  if (!signedIn) return null;
  const hot = budgets.filter((b) => b.ratio !== null && b.ratio >= WARN_RATIO);
  if (hot.length === 0) return null;
  return (
    <div className="banner banner-budget" role="status" data-testid="budget-banner">
      <p>
        <strong>{hot.some((b) => (b.ratio ?? 0) >= 1) ? "A budget is used up: its calls are refused." : "A budget is almost used up."}</strong>
      </p>
      <ul>
        {hot.map((b) => (
          <li key={`${b.scope}-${b.id}`}>
            {budgetName(b)}: {Math.round((b.ratio ?? 0) * 100)} % ({formatMetric((b.spentUsd ?? 0) + b.reservedUsd, "cost_usd")} of {formatMetric(b.limitUsd, "cost_usd")})
          </li>
        ))}
      </ul>
      <Link to="/dashboard#budgets">See budgets</Link>
    </div>
  );
}
