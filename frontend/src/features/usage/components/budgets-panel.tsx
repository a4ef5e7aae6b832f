import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useBudgets, WARN_RATIO, type BudgetStatus } from "../api/get-budgets";
import { budgetName, formatMetric } from "../format";

const PERIOD = { daily: "per day", monthly: "per month", lifetime: "in total" } as const;

function Meter({ budget }: { budget: BudgetStatus }) {
  if (budget.ratio === null) return null;
  const percent = Math.round(budget.ratio * 100);
  const tone = budget.ratio >= 1 ? "meter-over" : budget.ratio >= WARN_RATIO ? "meter-warn" : "";
  return (
    <div
      className={`meter ${tone}`}
      role="meter"
      aria-label={`${budgetName(budget)}: ${percent} % used`}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.min(percent, 100)}
    >
      <span style={{ width: `${Math.min(percent, 100)}%` }} />
    </div>
  );
}

/** Spend against each budget: the organization's and every live key's. */
export function BudgetsPanel() {
  const { budgets, isPending, error, refetch } = useBudgets();
  if (isPending) return <Loading label="Loading budgets…" />;
  if (error && budgets.length === 0) return <ErrorMessage error={error} onRetry={refetch} />;
  if (budgets.length === 0) {
    return (
      <Empty title="No budgets set">
        <p>Spend is not capped. Set a budget on a key (API keys) or on the organization (Settings).</p>
      </Empty>
    );
  }
  return (
    <ul className="budgets">
      {budgets.map((b) => (
        <li key={`${b.scope}-${b.id}`} className="card">
          <p className="budget-title">
            <strong>{budgetName(b)}</strong>{" "}
            {b.ratio !== null && b.ratio >= WARN_RATIO ? <span className="badge badge-danger">{b.ratio >= 1 ? "exhausted" : "almost used up"}</span> : null}
          </p>
          <p>
            {b.spentUsd === null ? (
              <>
                {formatMetric(b.limitUsd, "cost_usd")} {PERIOD[b.period]} <span className="muted">(spend is shown to roles that see the keys)</span>
              </>
            ) : (
              <>
                {formatMetric(b.spentUsd + b.reservedUsd, "cost_usd")} of {formatMetric(b.limitUsd, "cost_usd")} {PERIOD[b.period]}
                {b.ratio !== null ? ` · ${Math.round(b.ratio * 100)} %` : ""}
              </>
            )}
          </p>
          <Meter budget={b} />
          {b.resetsAt ? <p className="muted">Resets {formatDate(b.resetsAt)}</p> : b.period === "lifetime" ? <p className="muted">Never resets</p> : null}
        </li>
      ))}
    </ul>
  );
}
