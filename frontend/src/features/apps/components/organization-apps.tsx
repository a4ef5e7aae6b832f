import { useState, type ReactNode } from "react";
import { formatDate } from "@/components/ui/format";
import { Empty, ErrorMessage, Loading } from "@/components/ui/states";
import { useApps, type OAuthApp } from "../api/get-apps";
import { DeleteAppDialog } from "./delete-app-dialog";
import { RegisterAppDialog } from "./register-app-dialog";

/** The organization's registered OAuth apps (owners and admins): register, list, delete. */
export function OrganizationApps() {
  const apps = useApps();
  const [open, setOpen] = useState<{ action: "register" } | { action: "delete"; app: OAuthApp } | null>(null);
  const close = () => setOpen(null);
  const dialogs = (
    <>
      {open?.action === "register" ? <RegisterAppDialog onClose={close} /> : null}
      {open?.action === "delete" ? <DeleteAppDialog app={open.app} onClose={close} /> : null}
    </>
  );
  const registerButton = (
    <button type="button" className="button" onClick={() => setOpen({ action: "register" })}>
      Register an app
    </button>
  );
  return (
    <>
      <AppsList apps={apps} registerButton={registerButton} onDelete={(app) => setOpen({ action: "delete", app })} />
      {/* One place in the tree whatever the list shows: a dialog survives the list's refetch. */}
      {dialogs}
    </>
  );
}

function AppsList({
  apps,
  registerButton,
  onDelete,
}: {
  apps: ReturnType<typeof useApps>;
  registerButton: ReactNode;
  onDelete: (app: OAuthApp) => void;
}) {
  if (apps.isPending) return <Loading label="Loading apps…" />;
  if (apps.isError) return <ErrorMessage error={apps.error} onRetry={() => void apps.refetch()} />;
  const all = apps.data.pages.flatMap((p) => p.results);
  if (all.length === 0) {
    return (
      <Empty title="No OAuth apps registered">
        <p>Register one to offer “Sign in with LLMaaS” in your own application.</p>
        {registerButton}
      </Empty>
    );
  }
  return (
    <>
      <div>{registerButton}</div>
      <table className="table responsive">
        <caption className="visually-hidden">OAuth apps</caption>
        <thead>
          <tr>
            <th scope="col">App</th>
            <th scope="col">Client id</th>
            <th scope="col">Type</th>
            <th scope="col">Redirect URIs</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
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
              <td className="actions">
                <div className="row-actions">
                  <button type="button" className="button button-small button-danger" onClick={() => onDelete(a)} aria-label={`Delete ${a.name}`}>
                    Delete
                  </button>
                </div>
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
