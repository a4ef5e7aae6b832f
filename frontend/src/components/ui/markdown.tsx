import { marked } from "marked";
import { useMemo } from "react";

/** Markdown from the repository's own files (trusted content, not user input). */
export function Markdown({ source }: { source: string }) {
  const html = useMemo(() => marked.parse(source, { async: false, gfm: true }), [source]);
  return <div className="prose" dangerouslySetInnerHTML={{ __html: html }} />;
}
