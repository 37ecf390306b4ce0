// Time to first paint and HTML size of the share page for each fixture, against a baseline
// measured in the same run: the service's own 404 page (same server, browser and head).
// `npm run measure` (MEASURE_RUNS, default 7). Cold = the first view after start (the session
// is read from storage and parsed); warm = the median of the following views.
import { startService, share, fixture, launchBrowser } from "./harness.mjs";

const runs = Number(process.env.MEASURE_RUNS ?? 7);

async function view(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const resp = await page.goto(url, { waitUntil: "load" });
  const html = (await resp.body()).length;
  // The paint entry can be posted after `load`: wait for it.
  const timing = await page.evaluate(() => new Promise((resolve) => {
    const load = performance.getEntriesByType("navigation")[0].loadEventEnd;
    new PerformanceObserver((list) => {
      const paint = list.getEntriesByName("first-contentful-paint")[0];
      if (paint) resolve({ fcp: paint.startTime, load });
    }).observe({ type: "paint", buffered: true });
    setTimeout(() => resolve({ fcp: NaN, load }), 5000);
  }));
  await context.close();
  return { html, ...timing };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const service = await startService();
const browser = await launchBrowser();
try {
  const baselineRuns = [];
  for (let i = 0; i < runs; i++) baselineRuns.push(await view(browser, `${service.base}/session/HzKozOxIxl4dO0YijPu0q`));
  const baseline = median(baselineRuns.map((r) => r.fcp));
  console.log(`baseline (404 page): first contentful paint ${baseline.toFixed(0)} ms, ${baselineRuns[0].html} bytes`);
  console.log("fixture        session bytes  HTML bytes  FCP cold ms  FCP warm ms  warm/baseline  load warm ms");
  for (const name of ["small.json", "medium.json", "large.json", "xlarge.json"]) {
    const body = fixture(name);
    const { id } = await share(service, body);
    const url = `${service.base}/session/${id}`;
    const cold = await view(browser, url);
    const warm = [];
    for (let i = 1; i < runs; i++) warm.push(await view(browser, url));
    const fcp = median(warm.map((r) => r.fcp));
    console.log(
      `${name.padEnd(14)} ${String(body.length).padStart(13)} ${String(cold.html).padStart(11)} ${cold.fcp.toFixed(0).padStart(12)} ` +
      `${fcp.toFixed(0).padStart(12)} ${(fcp / baseline).toFixed(2).padStart(14)} ${median(warm.map((r) => r.load)).toFixed(0).padStart(13)}`,
    );
  }
} finally {
  await browser.close();
  service.stop();
}
