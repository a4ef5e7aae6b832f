import type { ChatUsage, PlaygroundModelPrice } from "./types";

/** USD for a call: tokens × the model's price per million tokens (null: no price known). */
export function callCost(usage: ChatUsage, price: PlaygroundModelPrice | undefined): number | null {
  if (!price) return null;
  return (usage.prompt_tokens * Number(price.input_price_per_mtok) + usage.completion_tokens * Number(price.output_price_per_mtok)) / 1e6;
}
