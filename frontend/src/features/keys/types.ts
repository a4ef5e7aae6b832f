export type BudgetPeriod = "daily" | "monthly" | "lifetime";

export type ApiKey = {
  id: string;
  name: string;
  prefix: string;
  models: string[];
  created_by: string | null;
  created_at: string;
  expires_at: string | null;
  store_chats: boolean;
  budget_usd: string | null;
  budget_period: BudgetPeriod;
  rpm: number | null;
  tpm: number | null;
  max_parallel: number | null;
  last_used_at: string | null;
  rotated_at: string | null;
  revoked: boolean;
  revoked_at: string | null;
  app: { client_id: string; name: string } | null;
  /** A short-lived key the playground issued (each visit revokes the previous one). */
  playground: boolean;
};

export type IssuedKey = ApiKey & { secret: string };

export type RotatedKey = ApiKey & { secret: string | null; replayed: boolean; previous_secret_expires_at: string | null };

/** What a create or edit form sends; null clears a limit (unlimited). */
export type KeyInput = {
  name: string;
  models: string[];
  expires_at: string | null;
  store_chats: boolean;
  budget_usd: string | null;
  budget_period: BudgetPeriod;
  rpm: number | null;
  tpm: number | null;
  max_parallel: number | null;
};

type SetBy = "key" | "organization" | "both" | null;

export type EffectiveLimits = {
  models: { value: string[] | null; set_by: SetBy };
  budgets: {
    scope: "key" | "org";
    limit_usd: string;
    period: BudgetPeriod;
    spent_usd: string;
    reserved_usd: string;
    remaining_usd: string;
    resets_at: string | null;
  }[];
  budget_binding_scope: "key" | "org" | null;
  rpm: { value: number | null; set_by: SetBy };
  tpm: { value: number | null; set_by: SetBy };
  max_parallel: { value: number | null; set_by: SetBy };
  expires_at: string | null;
  timezone: string;
};

export type Page<T> = { next: string | null; previous: string | null; results: T[] };
