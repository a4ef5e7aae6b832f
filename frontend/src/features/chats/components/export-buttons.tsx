import { ErrorMessage } from "@/components/ui/states";
import { useExportChats, type ExportFormat } from "../api/export-chats";
import type { ChatFilters } from "../api/get-chats";

/** CSV and JSON downloads of the chats the filters select (every page, oldest first). */
export function ExportButtons({ filters }: { filters: ChatFilters }) {
  const exporter = useExportChats();
  const busy = (format: ExportFormat) => exporter.isPending && exporter.variables?.format === format;
  return (
    <div className="stack">
      <div className="row" role="group" aria-label="Export">
        {(["csv", "json"] as const).map((format) => (
          <button key={format} type="button" className="button" disabled={exporter.isPending} onClick={() => exporter.mutate({ filters, format })}>
            {busy(format) ? `Exporting ${format.toUpperCase()}…` : `Export ${format.toUpperCase()}`}
          </button>
        ))}
      </div>
      <p className="visually-hidden" role="status" aria-live="polite">
        {exporter.isSuccess ? `Downloaded ${exporter.data.filename}` : ""}
      </p>
      {exporter.isError ? <ErrorMessage error={exporter.error} /> : null}
    </div>
  );
}
