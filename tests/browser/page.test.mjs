// The share page in a real browser: content, buttons, hostile sessions, error pages.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startService, share, fixture, launchBrowser, repo } from "./harness.mjs";

let service, browser;
const shared = {};
const FIXTURES = ["small.json", "medium.json", "large.json", "xlarge.json"];

before(async () => {
  service = await startService();
  browser = await launchBrowser();
  for (const name of FIXTURES) {
    const body = fixture(name);
    shared[name] = { body, doc: JSON.parse(body), id: (await share(service, body)).id };
  }
});

after(async () => {
  await browser?.close();
  service?.stop();
});

for (const name of FIXTURES) {
  test(`${name}: the page shows the task prompt, the author and the right message count`, async () => {
    const { doc, id } = shared[name];
    const page = await browser.newPage();
    const resp = await page.goto(`${service.base}/session/${id}`);
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()["content-type"], /^text\/html/);
    assert.equal((await page.textContent("#prompt")).trim(), doc.task.task.trim());
    assert.equal(await page.textContent("#author"), "viragtiwari");
    assert.equal(Number(await page.getAttribute("#message-count", "data-count")), doc.messages.length);
    assert.match(await page.textContent("#message-count"), new RegExp(`^${doc.messages.length.toLocaleString("en-US")} messages$`));
    assert.equal(await page.locator("article.msg").count(), Math.min(200, doc.messages.length));
    assert.equal(await page.getAttribute("#import", "href"), `vscode://OrangecatTechPvtLtd.syntx/import-session?id=${id}`);
    // Images are separate requests, never inline in the page.
    assert.ok(!(await resp.text()).includes("data:image"), "an image was inlined");
    await page.close();
  });
}

test("the share code is copied to the clipboard", async () => {
  const { id } = shared["small.json"];
  const context = await browser.newContext();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: service.base });
  const page = await context.newPage();
  await page.goto(`${service.base}/session/${id}`);
  await page.click("#copy-code");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `viragtiwari/${id}`);
  assert.match(await page.textContent("#copy-code"), /^Copied/);
  await context.close();
});

test("Download JSON saves the session byte for byte", async () => {
  const { id, body } = shared["medium.json"];
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(`${service.base}/session/${id}`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  assert.equal(download.suggestedFilename(), `${id}.json`);
  assert.ok(readFileSync(await download.path()).equals(body), "the download differs from the upload");
  await context.close();
});

test("a long conversation continues on linked pages; images load as thumbnails", async () => {
  const { id, doc } = shared["xlarge.json"];
  const page = await browser.newPage();
  await page.goto(`${service.base}/session/${id}`);
  await Promise.all([page.waitForURL(/\?page=2$/, { waitUntil: "load" }), page.click("#later")]);
  assert.equal(await page.locator("article.msg").count(), 200);
  const thumbs = page.locator("a.thumb img");
  const withImages = doc.messages.filter((m) => m.images?.length).length;
  assert.ok(withImages > 0);
  let found = await thumbs.count();
  for (let p = 3; found === 0 && p <= 10; p++) {
    await page.goto(`${service.base}/session/${id}?page=${p}`);
    found = await thumbs.count();
  }
  assert.ok(found > 0, "no thumbnails on the first pages");
  assert.equal(await thumbs.first().getAttribute("loading"), "lazy");
  const src = await thumbs.first().getAttribute("src");
  const image = await page.request.get(`${service.base}${src}`);
  assert.equal(image.status(), 200);
  assert.equal(image.headers()["content-type"], "image/png");
  assert.equal(await page.locator("a.thumb").first().getAttribute("target"), "_blank");
  await page.close();
});

test("a hostile session runs none of its scripts, handlers, links or styles", async () => {
  const doc = JSON.parse(fixture("small.json"));
  const payloads = [
    "<script>window.__xss = 'script'</script>",
    "<img src=x onerror=\"window.__xss = 'img'\">",
    "[click me](javascript:window.__xss='md-link')",
    "<a id=\"evil\" href=\"javascript:window.__xss='a'\" onclick=\"window.__xss='onclick'\">evil</a>",
    "<svg onload=\"window.__xss = 'svg'\"></svg>",
    "<iframe src=\"javascript:window.__xss='iframe'\"></iframe>",
    "<style>body { background: rgb(255, 0, 0) !important }</style>",
    "<div style=\"position:fixed;inset:0;background:rgb(255,0,0)\">styled</div>",
    "<body onload=\"window.__xss='body'\">",
  ];
  doc.task.task = "<script>window.__xss='prompt'</script> Fix it";
  doc.messages = payloads.map((text, i) => ({ ts: 1000 + i, type: "say", say: i % 2 ? "text" : "user_feedback", text }));
  doc.messages.push({ ts: 2000, type: "ask", ask: "followup", text: JSON.stringify({ question: "<img src=x onerror=\"window.__xss='q'\">", suggest: ["<script>window.__xss='s'</script>"] }) });
  doc.messages.push({ ts: 2001, type: "say", say: "brand_new_kind", text: "<b onmouseover=\"window.__xss='unknown'\">new</b>" });
  doc.messages.push({ ts: 2002, type: "say", say: "text", text: "look", images: ["data:image/svg+xml;base64," + Buffer.from("<svg xmlns='http://www.w3.org/2000/svg' onload=\"window.__xss='svg-image'\"/>").toString("base64")] });
  const { id } = await share(service, JSON.stringify(doc));

  const page = await browser.newPage();
  const violations = [];
  page.on("console", (msg) => { if (msg.type() === "error") violations.push(msg.text()); });
  await page.goto(`${service.base}/session/${id}`);
  await page.waitForLoadState("load");
  // Open every fold and hover and click what is there.
  for (const summary of await page.locator("summary").all()) await summary.click();
  await page.hover("text=new").catch(() => {});
  await page.click("text=click me").catch(() => {});
  await page.waitForTimeout(300);

  assert.equal(await page.evaluate(() => window.__xss), undefined, "a session script ran");
  const scripts = await page.evaluate(() => [...document.scripts].map((s) => s.getAttribute("src")));
  assert.deepEqual(scripts, ["/assets/page.js"]);
  const handlers = await page.evaluate(() => [...document.querySelectorAll("*")].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith("on")));
  assert.deepEqual(handlers, []);
  assert.equal(await page.locator("a[href^='javascript:'], iframe, svg, img:not(.thumb img)").count(), 0);
  assert.equal(await page.locator("[style]").count(), 0);
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), "rgb(255, 0, 0)");
  // The content is still shown, as text.
  assert.match(await page.textContent("#prompt"), /<script>window.__xss='prompt'<\/script> Fix it/);
  assert.match(await page.textContent("main"), /window.__xss = 'script'/);
  assert.equal(await page.locator("article[data-kind='brand_new_kind']").count(), 1);
  // The SVG image is refused, not served.
  const svg = await page.request.get(`${service.base}/session/${id}/images/11/0`);
  assert.equal(svg.status(), 404);
  await page.close();
});

test("missing, private and expired shares get HTML pages with 404 and 410", async () => {
  const page = await browser.newPage();
  let resp = await page.goto(`${service.base}/session/HzKozOxIxl4dO0YijPu0q`);
  assert.equal(resp.status(), 404);
  assert.match(resp.headers()["content-type"], /^text\/html/);
  assert.equal(await page.textContent("h1"), "Session not found");

  // Each a task of its own: sharing a task again adds a revision and keeps the options.
  const base = JSON.parse(fixture("small.json"));
  const task = (id) => ({ ...base.task, id: `${id}-${Date.now()}` });
  const secret = await share(service, JSON.stringify({ ...base, task: task("private"), isPublic: false }));
  resp = await page.goto(`${service.base}/session/${secret.id}`);
  assert.equal(resp.status(), 404);
  assert.equal(await page.textContent("h1"), "Session not found");

  const soon = new Date(Date.now() + 2000).toISOString();
  const expiring = await share(service, JSON.stringify({ ...base, task: task("expiring"), expiresAt: soon }));
  resp = await page.goto(`${service.base}/session/viragtiwari/${expiring.id}`);
  assert.equal(resp.status(), 200);
  await new Promise((r) => setTimeout(r, 2500));
  resp = await page.goto(`${service.base}/session/viragtiwari/${expiring.id}`);
  assert.equal(resp.status(), 410);
  assert.equal(await page.textContent("h1"), "This session has expired");
  await page.close();
});

test("the page works at phone width and in the dark scheme; screenshots for the record", async () => {
  const { id } = shared["medium.json"];
  const dir = join(repo, "target", "screenshots");
  mkdirSync(dir, { recursive: true });
  const desktop = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
  await desktop.goto(`${service.base}/session/${id}`);
  await desktop.screenshot({ path: join(dir, "medium.png") });
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
  await phone.goto(`${service.base}/session/${id}`);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
  const background = await phone.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, "rgb(21, 24, 29)", "dark scheme");
  await phone.screenshot({ path: join(dir, "medium-phone-dark.png") });
  await desktop.close();
  await phone.close();
});

test("Open Graph and Twitter tags describe the share", async () => {
  const { id, doc } = shared["small.json"];
  const page = await browser.newPage();
  await page.goto(`${service.base}/session/${id}`);
  const meta = (selector) => page.getAttribute(selector, "content");
  assert.equal(await meta("meta[property='og:title']"), doc.task.task);
  assert.equal(await meta("meta[property='og:url']"), `${service.base}/session/${id}`);
  assert.match(await meta("meta[property='og:description']"), /^A shared AI coding session by viragtiwari/);
  assert.equal(await meta("meta[name='twitter:card']"), "summary");
  await page.close();
});
