// The bench's B11 (bench/portal.py): the dashboard's first render in Debian's Chromium.
// Logs in once through /o/login, then, ROUNDS times: opens /dashboard?days=90 in a fresh tab
// (tokens are in memory only, so the portal signs in again silently through the provider's
// session) and records, in the page, performance.now() when the usage chart's first bars appear
// (an init script's MutationObserver); then opens /dashboard (30 days) in another fresh tab,
// picks "Last 90 days" and times the chart's redraw.
// Env: PORTAL_URL, PORTAL_EMAIL, PORTAL_PASSWORD, ROUNDS, CHROMIUM. Prints one JSON line.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.PORTAL_URL;
const rounds = Number(process.env.ROUNDS || 5);
// Bars, or stacked areas where the chart has too many buckets for bars.
const BARS = '[data-testid="usage-chart"] .recharts-bar-rectangle, [data-testid="usage-chart"] .recharts-area-area';
const profile = mkdtempSync(join(tmpdir(), "llmaas-bench-chromium-"));

// In every document: the time (ms since this document's navigation start) the chart's bars appear.
const watchChart = (selector) => {
  const seen = () => {
    if (window.__chartAt === undefined && document.querySelector(selector)) window.__chartAt = performance.now();
    return window.__chartAt !== undefined;
  };
  new MutationObserver((_, observer) => seen() && observer.disconnect()).observe(document, { childList: true, subtree: true });
};

// In the page: choose the 90-day range and wait, frame by frame, for the chart to show it.
const switchTo90Days = () =>
  new Promise((resolve, reject) => {
    const select = [...document.querySelectorAll("select")].find((s) => [...s.options].some((o) => o.value === "90"));
    if (!select) return reject(new Error("no range selector with a 90-day option"));
    const started = performance.now();
    Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, "value").set.call(select, "90");
    select.dispatchEvent(new Event("change", { bubbles: true }));
    const tick = () => {
      const figure = document.querySelector('[data-testid="usage-chart"]');
      const bars = figure ? figure.querySelectorAll(".recharts-bar-rectangle").length : 0;
      if (figure && /90 days/i.test(figure.textContent) && bars >= 80) return resolve({ ms: performance.now() - started, bars });
      if (performance.now() - started > 30_000) return reject(new Error(`no 90-day chart after 30 s (${bars} bars)`));
      requestAnimationFrame(tick);
    };
    tick();
  });

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  await context.addInitScript(watchChart, BARS);
  const login = context.pages()[0] ?? (await context.newPage());
  await login.goto(`${base}/dashboard`);
  await login.waitForURL(/\/o\/login/, { timeout: 30_000 });
  await login.fill("#id_email", process.env.PORTAL_EMAIL);
  await login.fill("#id_password", process.env.PORTAL_PASSWORD);
  await Promise.all([login.waitForURL(`${base}/dashboard`, { timeout: 30_000 }), login.click("button[type=submit]")]);
  await login.waitForSelector(BARS, { timeout: 60_000 }); // warm-up: caches, connections, the first build of each query
  await login.close();

  const result = { first_render_ms: [], with_sign_in_ms: [], range_90_days_ms: [], bars_90_days: 0, steps: {} };
  for (let i = 0; i < rounds; i++) {
    const page = await context.newPage();
    const opened = Date.now();
    await page.goto(`${base}/dashboard?days=90`);
    await page.waitForSelector(BARS, { timeout: 60_000 });
    await page.waitForURL(/\/dashboard\?days=90$/, { timeout: 30_000 });
    const { chartAt, origin, caption, steps } = await page.evaluate(() => {
      // Where the time went: when the document was parsed, the tokens and the summary arrived.
      const ended = (path) => Math.max(0, ...performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname === path).map((e) => e.responseEnd));
      return {
        chartAt: window.__chartAt,
        origin: performance.timeOrigin,
        caption: document.querySelector('[data-testid="usage-chart"]').textContent,
        steps: {
          parsed: performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd,
          tokens: ended("/o/token/"),
          summary: ended("/api/usage/summary"),
        },
      };
    });
    for (const [name, ms] of Object.entries(steps)) (result.steps[name] ??= []).push(Math.round(ms));
    if (!/90 days/i.test(caption)) throw new Error(`the first render is not the 90-day chart: ${caption}`);
    result.first_render_ms.push(Math.round(chartAt));
    result.with_sign_in_ms.push(Math.round(origin + chartAt - opened));
    await page.close();

    const other = await context.newPage();
    await other.goto(`${base}/dashboard`);
    await other.waitForSelector(BARS, { timeout: 60_000 });
    const switched = await other.evaluate(switchTo90Days);
    result.range_90_days_ms.push(Math.round(switched.ms));
    result.bars_90_days = switched.bars;
    await other.close();
  }
  console.log(JSON.stringify(result));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
