import { useId, useState } from "react";
import { Markdown } from "@/components/ui/markdown";
import { publicOrigin } from "@/config/env";
import curl from "@/content/curl.md?raw";
import javascript from "@/content/javascript.md?raw";
import python from "@/content/python.md?raw";
import intro from "@/content/quickstart.md?raw";
import { fill } from "../fill";

const SNIPPETS = [
  { id: "curl", label: "curl", source: curl },
  { id: "python", label: "Python", source: python },
  { id: "javascript", label: "JavaScript", source: javascript },
] as const;

export function Quickstart({ model }: { model: string }) {
  const [tab, setTab] = useState<(typeof SNIPPETS)[number]["id"]>("python");
  const baseId = useId();
  const values = { baseUrl: publicOrigin(), model };
  const current = SNIPPETS.find((s) => s.id === tab)!;
  const onKeyDown = (event: React.KeyboardEvent) => {
    const index = SNIPPETS.findIndex((s) => s.id === tab);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    const next = SNIPPETS[(index + step + SNIPPETS.length) % SNIPPETS.length]!;
    setTab(next.id);
    document.getElementById(`${baseId}-${next.id}`)?.focus();
  };
  return (
    <div className="quickstart">
      <Markdown source={fill(intro, values)} />
      <div role="tablist" aria-label="Language" className="tabs" onKeyDown={onKeyDown}>
        {SNIPPETS.map((s) => (
          <button
            key={s.id}
            id={`${baseId}-${s.id}`}
            type="button"
            role="tab"
            aria-selected={s.id === tab}
            aria-controls={`${baseId}-panel`}
            tabIndex={s.id === tab ? 0 : -1}
            className="tab"
            onClick={() => setTab(s.id)}
          >
            {s.label}
          </button>
        ))}
      </div>
      <div id={`${baseId}-panel`} role="tabpanel" aria-labelledby={`${baseId}-${tab}`} tabIndex={0}>
        <Markdown source={fill(current.source, values)} />
      </div>
    </div>
  );
}
