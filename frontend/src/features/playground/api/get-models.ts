import { useQuery } from "@tanstack/react-query";
import { inferenceClient } from "./openai-client";

/** GET /v1/models with the playground key: the models it may call. */
export async function listModels(secret: string): Promise<string[]> {
  const page = await inferenceClient(secret).models.list();
  return page.data.map((model) => model.id).sort();
}

export const useModels = (keyId: string | undefined, secret: string | undefined) =>
  useQuery({
    queryKey: ["playground-models", keyId],
    queryFn: () => listModels(secret!),
    enabled: Boolean(secret),
    staleTime: 60_000,
  });
