// A real-browser journey through the portal, driven by stack/tests/test_portal_browser.py:
// log in through the real /o/login page (PKCE), create a key on /keys, read the revealed
// secret, then screenshot every route at 1280 and 320 px, dark and light. Prints one JSON line.
// Env: PORTAL_URL, PORTAL_EMAIL, PORTAL_PASSWORD, SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.PORTAL_URL;
const shots = process.env.SCREENSHOT_DIR;
const routes = ["/", "/dashboard", "/keys", "/playground", "/history", "/settings"];
const profile = mkdtempSync(join(tmpdir(), "llmaas-chromium-"));
mkdirSync(shots, { recursive: true });

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  // Every failed request counts, but the favicon.ico that Chromium asks of the provider's own
  // Django pages (login), which link no icon.
  const ignored = (url) => new URL(url).pathname === "/favicon.ico";
  page.on("response", (r) => r.status() >= 400 && !ignored(r.url()) && problems.push(`${r.status()} ${r.request().method()} ${r.url()}`));
  page.on("console", (msg) => msg.type() === "error" && !ignored(msg.location().url || "http://x/") && problems.push(`console: ${msg.text()} (${msg.location().url})`));

  // A protected route without tokens: the portal starts PKCE, the provider shows its login page.
  await page.goto(`${base}/keys`);
  await page.waitForURL(/\/o\/login/, { timeout: 20_000 });
  await page.fill("#id_email", process.env.PORTAL_EMAIL);
  await page.fill("#id_password", process.env.PORTAL_PASSWORD);
  await Promise.all([page.waitForURL(`${base}/keys`, { timeout: 20_000 }), page.click("button[type=submit]")]);
  await page.getByRole("heading", { name: "API keys" }).waitFor();

  // Create a key; the secret is revealed once in the dialog.
  await page.getByRole("button", { name: "Create key", exact: true }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill("browser-smoke");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.getByTestId("key-secret").textContent())?.trim();
  await page.screenshot({ path: join(shots, "keys-secret-1280-dark.png") });
  await page.getByRole("button", { name: "I have stored it" }).click();
  const listed = await page.getByRole("rowheader", { name: /browser-smoke/ }).count();

  // A reload forgets the tokens; the portal signs in again silently (the provider's session).
  await page.reload();
  await page.waitForURL(`${base}/keys`, { timeout: 20_000 });
  await page.getByRole("heading", { name: "API keys" }).waitFor();
  const afterReload = page.url();

  // Client-side navigation keeps the in-memory tokens.
  const go = async (path) => {
    await page.evaluate((p) => {
      window.history.pushState({}, "", p);
      window.dispatchEvent(new PopStateEvent("popstate"));
    }, path);
    await page.waitForLoadState("networkidle");
    await page.waitForFunction(() => !document.querySelector(".spinner"), null, { timeout: 15_000 }).catch(() => undefined);
  };
  const files = [];
  for (const theme of ["dark", "light"]) {
    const current = await page.evaluate(() => document.documentElement.dataset.theme);
    if (current !== theme) await page.getByRole("button", { name: `Switch to ${theme} mode` }).click();
    for (const width of [1280, 320]) {
      await page.setViewportSize({ width, height: width === 320 ? 740 : 900 });
      for (const route of routes) {
        await go(route);
        const name = `${route === "/" ? "landing" : route.slice(1)}-${width}-${theme}.png`;
        await page.screenshot({ path: join(shots, name), fullPage: true });
        files.push(name);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 1) problems.push(`${route} at ${width}px ${theme}: ${overflow}px horizontal overflow`);
      }
    }
  }
  console.log(JSON.stringify({ secret, listed, afterReload, files, problems }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
