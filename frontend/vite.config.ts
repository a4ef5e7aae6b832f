/// <reference types="vitest/config" />
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, URL } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

/** The served portal's Content-Security-Policy allows no inline script (`script-src 'self'`,
 * stack/nginx.py): the build moves index.html's inline scripts (the theme applied before the first
 * paint) into files of their own, named by their hash like every asset (long-cached by nginx). */
function externalInlineScripts(): Plugin {
  return {
    name: "llmaas-external-inline-scripts",
    apply: "build",
    writeBundle(options) {
      const dir = options.dir ?? "dist";
      const page = join(dir, "index.html");
      const html = readFileSync(page, "utf8").replace(/<script>([\s\S]*?)<\/script>/g, (_, code: string) => {
        const name = `assets/inline-${createHash("sha256").update(code).digest("hex").slice(0, 10)}.js`;
        writeFileSync(join(dir, name), code.trim() + "\n");
        return `<script src="/${name}"></script>`;
      });
      writeFileSync(page, html);
    },
  };
}

// `npm run dev` serves the portal on :5173 and proxies the server's paths to a running stack
// (bin/dev's public origin by default; LLMAAS_DEV_PROXY points elsewhere).
const stack = process.env.LLMAAS_DEV_PROXY ?? "http://127.0.0.1:8000";
const proxied = ["/api", "/o", "/.well-known", "/v1", "/static", "/admin"];

export default defineConfig({
  plugins: [react(), externalInlineScripts()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  server: {
    port: 5173,
    proxy: Object.fromEntries(proxied.map((path) => [path, { target: stack, changeOrigin: false }])),
  },
  // The manifest (dist/.vite/manifest.json) names the entry chunk and its static imports: the
  // bench's initial-JS figure (B10) reads it.
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 600, manifest: true },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/testing/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
