import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useApps } from "../api/get-apps";

/** The organization's registered OAuth apps (read-only here; the API registers and changes them). */
export function OrganizationApps() {
  const apps = useApps();
  if (apps.isPending) return <Loading label="Loading apps…" />;
  if (apps.isError) return <ErrorMessage error={apps.error} onRetry={() => void apps.refetch()} />;
  const all = apps.data.pages.flatMap((p) => p.results);
  if (all.length === 0) {
    return (
      <Empty title="No OAuth apps registered">
        <p>
          Register one with <code>POST /api/organization/apps</code> to offer “Sign in with LLMaaS”.
        </p>
      </Empty>
    );
  }
  return (
    <>
      <table className="table responsive">
        <caption className="visually-hidden">OAuth apps</caption>
        <thead>
          <tr>
            <th scope="col">App</th>
            <th scope="col">Client id</th>
            <th scope="col">Type</th>
            <th scope="col">Redirect URIs</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {all.map((a) => (
            <tr key={a.client_id}>
              <th scope="row" data-label="App">
                {a.name}
              </th>
              <td data-label="Client id" className="break">
                <code>{a.client_id}</code>
              </td>
              <td data-label="Type">{a.client_type}</td>
              <td data-label="Redirect URIs" className="break">
                {a.redirect_uris.join(" ")}
              </td>
              <td data-label="Created">
                {formatDate(a.created_at)}
                {a.created_by ? <span className="muted"> by {a.created_by}</span> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {apps.hasNextPage ? (
        <button type="button" className="button" onClick={() => void apps.fetchNextPage()} disabled={apps.isFetchingNextPage}>
          Show more apps
        </button>
      ) : null}
    </>
  );
}
