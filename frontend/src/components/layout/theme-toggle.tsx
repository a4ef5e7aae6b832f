import { useUiStore } from "@/stores/ui";

export function ThemeToggle() {
  const theme = useUiStore((s) => s.theme);
  const toggle = useUiStore((s) => s.toggleTheme);
  const next = theme === "dark" ? "light" : "dark";
  return (
    <button type="button" className="button button-ghost" onClick={toggle} aria-label={`Switch to ${next} mode`} title={`Switch to ${next} mode`}>
      {theme === "dark" ? "☀ Light" : "☾ Dark"}
    </button>
  );
}
