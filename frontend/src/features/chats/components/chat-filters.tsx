import { useId } from "react";
import { NO_FILTERS, type ChatFilterValues } from "../filters";

export function ChatFilters({
  values,
  onChange,
  keys,
}: {
  values: ChatFilterValues;
  onChange: (values: ChatFilterValues) => void;
  keys: { id: string; name: string; prefix: string; revoked: boolean }[] | null;
}) {
  const ids = { key: useId(), from: useId(), to: useId() };
  const active = values.key || values.from || values.to;
  return (
    <form className="controls" aria-label="Filter chats" onSubmit={(e) => e.preventDefault()}>
      {keys ? (
        <div className="control">
          <label htmlFor={ids.key}>API key</label>
          <select id={ids.key} value={values.key} onChange={(e) => onChange({ ...values, key: e.target.value })}>
            <option value="">Every key</option>
            {keys.map((k) => (
              <option key={k.id} value={k.id}>
                {k.name} ({k.prefix}…){k.revoked ? " — revoked" : ""}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <div className="control">
        <label htmlFor={ids.from}>From (UTC)</label>
        <input id={ids.from} type="date" value={values.from} max={values.to || undefined} onChange={(e) => onChange({ ...values, from: e.target.value })} />
      </div>
      <div className="control">
        <label htmlFor={ids.to}>To (UTC, included)</label>
        <input id={ids.to} type="date" value={values.to} min={values.from || undefined} onChange={(e) => onChange({ ...values, to: e.target.value })} />
      </div>
      {active ? (
        <div className="control control-end">
          <button type="button" className="button" onClick={() => onChange(NO_FILTERS)}>
            Clear filters
          </button>
        </div>
      ) : null}
    </form>
  );
}
