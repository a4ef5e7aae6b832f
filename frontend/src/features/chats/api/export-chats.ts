import { useMutation } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { chatParams, type ChatFilters } from "./get-chats";

export type ExportFormat = "csv" | "json";

const TYPES: Record<ExportFormat, string> = { csv: "text/csv", json: "application/json" };

/** The file name the server gives (Content-Disposition), else one made here. */
export function filenameOf(disposition: string | undefined, format: ExportFormat, now = new Date()): string {
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition ?? "");
  if (match?.[1]) return decodeURIComponent(match[1]);
  return `chats-${now.toISOString().slice(0, 19).replace(/[-:]/g, "")}Z.${format}`;
}

/** A failed download's body is bytes too: decoded here, the client shows its envelope in words. */
export function decodeErrorBody(data: unknown, status: number | undefined): unknown {
  if (!(data instanceof ArrayBuffer) || status === undefined || status < 400) return data;
  try {
    return JSON.parse(new TextDecoder().decode(data)) as unknown;
  } catch {
    return null;
  }
}

/**
 * GET /api/chats/export through the Bearer-authenticated client (a plain link would carry no
 * token): the whole file as bytes, then a Blob with the server's file name.
 */
export async function exportChats(filters: ChatFilters, format: ExportFormat): Promise<{ blob: Blob; filename: string }> {
  const response = await api.get<ArrayBuffer>("/api/chats/export", {
    params: { ...chatParams(filters), format },
    responseType: "arraybuffer",
    headers: { Accept: `${TYPES[format]}, application/json` },
    transformResponse: [(data: unknown, _headers, status) => decodeErrorBody(data, status)],
  });
  const disposition = response.headers["content-disposition"] as string | undefined;
  return { blob: new Blob([response.data], { type: TYPES[format] }), filename: filenameOf(disposition, format) };
}

/** Saves a blob under a file name: an object URL behind a link with `download`, clicked once. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  link.style.display = "none";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

export const useExportChats = () =>
  useMutation({
    mutationFn: async ({ filters, format }: { filters: ChatFilters; format: ExportFormat }) => {
      const file = await exportChats(filters, format);
      saveBlob(file.blob, file.filename);
      return file;
    },
  });
