/** POST /api/keys/playground: a short-lived key for this page, shown once. */
export type PlaygroundModelPrice = { name: string; input_price_per_mtok: string; output_price_per_mtok: string };

export type PlaygroundKey = {
  id: string;
  prefix: string;
  secret: string;
  expires_at: string;
  budget_usd: string;
  store_chats: boolean;
  models: PlaygroundModelPrice[];
};

export type ChatUsage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };
