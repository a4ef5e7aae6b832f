import { useQuery } from "@tanstack/react-query";
import { inferenceClient } from "./openai-client";

/** GET /v1/models with the playground key: the models it may call. */
export async function listModels(secret: string): Promise<string[]> {
  const page = await inferenceClient(secret).models.list();
  return page.data.map((model) => model.id).sort();
}

/** Keyed by organization, not by key: a renewed key keeps the list (and the form on screen). */
export const useModels = (organization: string, secret: string) =>
  useQuery({
    queryKey: ["playground-models", organization],
    queryFn: () => listModels(secret),
    staleTime: 60_000,
  });
