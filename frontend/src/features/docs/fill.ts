/** The repository's Markdown with this instance's URL (and a model the caller may use) filled in. */
export function fill(source: string, values: { baseUrl: string; model: string }): string {
  return source.replaceAll("{{BASE_URL}}", values.baseUrl).replaceAll("{{MODEL}}", values.model);
}
