// A developer's journey through the portal in Debian's Chromium (playwright-core), one step per
// run, driven by stack/tests/test_portal_browser.py, which checks each step's outcome against
// the API, the mail and the OpenAI Python SDK between steps. The browser profile (PROFILE) is
// kept across steps, so the provider's session cookie is too; the portal's tokens live in
// memory only, so every step signs in again, silently, through that session.
// Env: PORTAL_URL, PORTAL_EMAIL, PORTAL_PASSWORD, PROFILE, STEP, SCREENSHOT_DIR, CHROMIUM,
// MARKER (the playground's message), KEY_NAME, LINK (the verification mail's link). Prints one JSON line: the step's result and
// `problems` (page errors, failed requests, console errors).
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.PORTAL_URL;
const shots = process.env.SCREENSHOT_DIR;
const step = process.env.STEP;
const email = process.env.PORTAL_EMAIL;
const password = process.env.PORTAL_PASSWORD;
const keyName = process.env.KEY_NAME || "journey";
const marker = process.env.MARKER || "Say hello to the journey";
mkdirSync(shots, { recursive: true });

const problems = [];
// Chromium asks the provider's own Django pages (login, sign-up) for a favicon they do not link.
const ignored = (url) => new URL(url).pathname === "/favicon.ico";

async function launch(profile) {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("response", (r) => r.status() >= 400 && !ignored(r.url()) && problems.push(`${r.status()} ${r.request().method()} ${r.url()}`));
  page.on("console", (msg) => msg.type() === "error" && !ignored(msg.location().url || "http://x/") && problems.push(`console: ${msg.text()} (${msg.location().url})`));
  return { context, page };
}

/** Open a portal page; log in on the provider's page if it asks (else the sign-in is silent). */
async function open(page, path, heading) {
  await page.goto(`${base}${path}`);
  const title = page.getByRole("heading", { name: heading, level: 1 });
  const login = page.locator("#id_email");
  await title.or(login).first().waitFor({ timeout: 30_000 });
  if (await login.isVisible()) {
    await login.fill(email);
    await page.fill("#id_password", password);
    await Promise.all([page.waitForURL(`${base}${path}`, { timeout: 30_000 }), page.click("button[type=submit]")]);
  }
  await title.waitFor({ timeout: 30_000 });
}

const settle = async (page) => {
  await page.waitForLoadState("networkidle");
  await page.waitForFunction(() => !document.querySelector(".spinner"), null, { timeout: 15_000 }).catch(() => undefined);
};

const steps = {
  // /signup sends the browser to the provider's sign-up page (PKCE authorize URL as next=).
  async signup(page) {
    await page.goto(`${base}/signup`);
    await page.waitForURL(/\/o\/signup/, { timeout: 30_000 });
    await page.screenshot({ path: join(shots, "journey-signup-form.png") });
    await page.fill("#id_name", "Journey Developer");
    await page.fill("#id_email", email);
    await page.fill("#id_password", password);
    await page.click("button[type=submit]");
    await page.waitForLoadState("networkidle");
    await page.screenshot({ path: join(shots, "journey-signup-done.png"), fullPage: true });
    return { url: page.url(), text: (await page.locator("body").innerText()).slice(0, 2000) };
  },

  // Open the verification mail's link: the portal's /verify-email posts its token to the API.
  async verify(page) {
    const link = process.env.LINK;
    await page.goto(link);
    await page.getByRole("heading", { name: "Confirm your email address", level: 1 }).waitFor({ timeout: 30_000 });
    const outcome = page.getByText("Your email address is confirmed.").or(page.getByRole("alert"));
    await outcome.first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(shots, "journey-verify-email.png"), fullPage: true });
    return { url: page.url(), text: (await page.locator("main").innerText()).slice(0, 2000) };
  },

  // Log in through PKCE, create a key that keeps chats, copy its secret with the copy button.
  async key(page) {
    await open(page, "/keys", "API keys");
    const signedIn = page.url();
    await page.getByRole("button", { name: "Create key", exact: true }).first().click();
    const dialog = page.getByRole("dialog", { name: "Create an API key" });
    await dialog.getByLabel("Name").fill(keyName);
    await dialog.getByLabel("Keep chat history for calls with this key").check();
    await dialog.getByRole("button", { name: "Create key" }).click();
    const revealed = (await page.getByTestId("key-secret").textContent())?.trim();
    await page.getByRole("button", { name: "Copy", exact: true }).click();
    await page.getByRole("button", { name: "Copied" }).waitFor({ timeout: 5_000 });
    const clipboard = await page.evaluate(() => navigator.clipboard.readText());
    await page.screenshot({ path: join(shots, "keys-secret-1280-dark.png") });
    await page.getByRole("button", { name: "I have stored it" }).click();
    const listed = await page.getByRole("rowheader", { name: new RegExp(keyName) }).count();
    // A reload forgets the tokens; the portal signs in again silently (the provider's session).
    await page.reload();
    await page.waitForURL(`${base}/keys`, { timeout: 30_000 });
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    return { signedIn, revealed, clipboard, listed, afterReload: page.url() };
  },

  // The playground streams a reply from SmolLM2 with its own short-lived key.
  async playground(page) {
    await open(page, "/playground", "Playground");
    const model = page.getByLabel("Model");
    await model.waitFor({ timeout: 30_000 });
    await model.selectOption("smollm2");
    await page.getByLabel("Max tokens").fill("24");
    await page.getByLabel("Message").fill(marker);
    await page.getByRole("button", { name: "Send" }).click();
    const done = page.getByTestId("chat-done");
    await done.waitFor({ timeout: 180_000 });
    await page.screenshot({ path: join(shots, "journey-playground-reply.png"), fullPage: true });
    return {
      keyLine: await page.getByTestId("playground-key").innerText(),
      firstToken: await page.getByTestId("first-token").innerText(),
      done: await done.innerText(),
      reply: await page.getByTestId("chat-reply").innerText(),
      usage: await page.getByTestId("chat-usage").innerText(),
      storage: await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })),
    };
  },

  // History shows the playground's chat (the usage pipeline is asynchronous: reload until it
  // does), then the CSV export downloads it.
  async history(page) {
    await open(page, "/history", "History");
    const item = page.getByTestId("chat-item").filter({ hasText: marker });
    const deadline = Date.now() + 120_000;
    while (!(await item.count())) {
      if (Date.now() > deadline) throw new Error("the playground's chat never showed in /history");
      await page.waitForTimeout(3_000);
      await open(page, "/history", "History");
      await settle(page);
    }
    const items = await page.getByTestId("chat-item").count();
    const shown = await item.first().innerText();
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), page.getByRole("button", { name: "Export CSV" }).click()]);
    const path = join(shots, "journey-chats.csv");
    await download.saveAs(path);
    return { items, shown, filename: download.suggestedFilename(), csv: readFileSync(path, "utf8") };
  },

  // The dashboard's chart shows the calls (rolled up asynchronously: reload until it does).
  async dashboard(page) {
    const wanted = Number(process.env.MIN_REQUESTS || 1);
    const deadline = Date.now() + 120_000;
    for (;;) {
      await open(page, "/dashboard", "Dashboard");
      await settle(page);
      const requests = Number(((await page.getByTestId("usage-requests").innerText().catch(() => "0")) || "0").replace(/[^0-9]/g, ""));
      const bars = await page.locator('[data-testid="usage-chart"] :is(.recharts-bar-rectangle, .recharts-area-area)').count();
      if ((requests >= wanted && bars > 0) || Date.now() > deadline) {
        await page.screenshot({ path: join(shots, "journey-dashboard.png"), fullPage: true });
        return { requests, bars };
      }
      await page.waitForTimeout(3_000);
    }
  },

  // Revoke the key, with confirmation.
  async revoke(page) {
    await open(page, "/keys", "API keys");
    await page.getByRole("button", { name: `Revoke ${keyName}` }).click();
    const dialog = page.getByRole("dialog", { name: new RegExp(`Revoke .${keyName}.`) });
    await dialog.getByRole("button", { name: "Revoke key" }).click();
    await dialog.waitFor({ state: "detached", timeout: 15_000 });
    // Revoked keys are hidden until asked for.
    const hidden = await page.getByRole("rowheader", { name: new RegExp(keyName) }).count();
    await page.getByRole("checkbox", { name: /Show revoked/ }).check();
    const row = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: new RegExp(keyName) }) });
    await row.getByText(/revoked/i).first().waitFor({ timeout: 15_000 });
    return { hidden, row: await row.innerText(), playgroundBadges: await page.locator("tbody .badge").filter({ hasText: /^Playground$/ }).count() };
  },

  // Every route at 1280 and 320 px, dark and light; /login and /signup in a signed-out tab
  // (they hand over to the provider's pages).
  async screenshots(page) {
    const go = async (path) => {
      await page.evaluate((p) => {
        window.history.pushState({}, "", p);
        window.dispatchEvent(new PopStateEvent("popstate"));
      }, path);
      await settle(page);
    };
    await open(page, "/dashboard", "Dashboard");
    const files = [];
    const name = (route, width, theme) => `${route === "/" ? "landing" : route.slice(1)}-${width}-${theme}.png`;
    const routes = ["/", "/dashboard", "/keys", "/playground", "/history", "/settings", "/verify-email", "/reset-password"];
    const overflow = async (route, width, theme) => {
      const px = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (px > 1) problems.push(`${route} at ${width}px ${theme}: ${px}px horizontal overflow`);
    };
    for (const theme of ["dark", "light"]) {
      const current = await page.evaluate(() => document.documentElement.dataset.theme);
      if (current !== theme) await page.getByRole("button", { name: `Switch to ${theme} mode` }).click();
      for (const width of [1280, 320]) {
        await page.setViewportSize({ width, height: width === 320 ? 740 : 900 });
        for (const route of routes) {
          await go(route);
          await page.screenshot({ path: join(shots, name(route, width, theme)), fullPage: true });
          files.push(name(route, width, theme));
          await overflow(route, width, theme);
        }
      }
    }
    // Signed out: a fresh context without the provider's session (the theme is the portal's
    // choice; the provider's pages follow the system's).
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--headless", "--disable-gpu"] });
    for (const theme of ["dark", "light"]) {
      for (const width of [1280, 320]) {
        const fresh = await browser.newContext({ viewport: { width, height: width === 320 ? 740 : 900 }, colorScheme: theme });
        const tab = await fresh.newPage();
        for (const route of ["/login", "/signup"]) {
          await tab.goto(`${base}${route}`);
          await tab.waitForURL(/\/o\/(login|signup)/, { timeout: 30_000 });
          await tab.waitForLoadState("networkidle");
          await tab.screenshot({ path: join(shots, name(route, width, theme)), fullPage: true });
          files.push(name(route, width, theme));
          const px = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          if (px > 1) problems.push(`${route} at ${width}px ${theme}: ${px}px horizontal overflow`);
        }
        await fresh.close();
      }
    }
    await browser.close();
    return { files };
  },
};

const { context, page } = await launch(process.env.PROFILE);
try {
  const result = await steps[step](page);
  console.log(JSON.stringify({ ...result, problems }));
} catch (error) {
  await page.screenshot({ path: join(shots, `journey-failed-${step}.png`), fullPage: true }).catch(() => undefined);
  console.error(`step ${step} failed at ${page.url()}: ${error.stack}`);
  process.exitCode = 1;
} finally {
  await context.close();
}
