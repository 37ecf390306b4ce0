// Swagger UI as a developer meets it: open /docs, authorize with a key, try the prefilled
// "Share a session" request, execute it, and get 201 — in Debian's chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startService, launchBrowser } from "./harness.mjs";

let service, browser;

before(async () => {
  service = await startService();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  service?.stop();
});

async function authorize(page, key) {
  await page.click("button.authorize");
  const scheme = page.locator(".auth-container").filter({ hasText: "SyntxApiKey" });
  await scheme.locator("input").fill(key);
  await scheme.locator("button.authorize").click();
  await page.click("button.btn-done");
}

async function tryItOut(page, operation) {
  const block = page.locator(`#operations-${operation}`);
  await block.locator(".opblock-summary").first().click();
  await block.locator("button.try-out__btn").click();
  return block;
}

async function execute(block) {
  await block.locator("button.execute").click();
  const status = block.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  return { status: (await status.textContent()).trim(), body: await block.locator(".live-responses-table .microlight").first().textContent() };
}

test("Swagger UI: authorize, try the prefilled share request, execute: 201 and a share URL", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // The page runs under a strict Content-Security-Policy: nothing of it may be refused.
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });
  const docs = await page.goto(`${service.base}/docs`);
  assert.match(docs.headers()["content-security-policy"], /frame-ancestors 'none'/);
  await page.waitForSelector("#operations-Sessions-createSession");
  await authorize(page, service.key);
  const block = await tryItOut(page, "Sessions-createSession");
  const { status, body } = await execute(block);
  assert.equal(status, "201", body);
  const created = JSON.parse(body);
  assert.match(created.url, new RegExp(`/session/${created.id}$`));
  assert.equal(created.username, "viragtiwari");

  // The older route offers both of its bodies; the prefilled one (share) works too.
  const both = await tryItOut(page, "Sessions-createOrImportSession");
  const choices = await both.locator(".examples-select select option").allTextContents();
  assert.ok(choices.some((c) => /create|Share/i.test(c)) && choices.some((c) => /import|Import/i.test(c)), choices.join(" | "));
  const second = await execute(both);
  assert.equal(second.status, "201", second.body);

  // Reading it back: the browser asks for gzip and gets the stored bytes, which Swagger UI
  // shows decoded.
  const read = await tryItOut(page, "Sessions-getSession");
  const idInput = read.locator('tr[data-param-name="id"] input');
  await idInput.fill(created.id);
  const got = await execute(read);
  assert.equal(got.status, "200", got.body);
  const session = JSON.parse(got.body);
  assert.equal(typeof session.version, "string");
  assert.ok(Array.isArray(session.messages));
  const headers = await read.locator(".live-responses-table .response-col_description .microlight").allTextContents();
  assert.match(headers.join("\n"), /content-encoding: gzip/i);
  assert.deepEqual(errors, []);
  await page.close();
});
