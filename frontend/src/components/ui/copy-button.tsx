import { useState } from "react";

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState<"idle" | "done" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied("done");
    } catch {
      setCopied("failed"); // insecure origin or permission refused: the text is selectable
    }
  };
  return (
    <button type="button" className="button" onClick={() => void copy()} aria-live="polite">
      {copied === "done" ? "Copied" : copied === "failed" ? "Copy failed: select the text" : label}
    </button>
  );
}
