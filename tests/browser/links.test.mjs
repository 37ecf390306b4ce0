// Private shares the right people read, in chromium: the owner opens a private share from
// /my (through a signed link made for it) and copies a private link that opens it anywhere;
// a team member sees the team's share in /my and opens it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startService, fixture, keyFor, cli, launchBrowser } from "./harness.mjs";

let service, browser, bob;
const made = {};

before(async () => {
  service = await startService();
  browser = await launchBrowser();
  // The service's own key is viragtiwari's: viragtiwari and bob are in team acme.
  bob = keyFor(service, "bob");
  cli(service, ["teams", "set", "viragtiwari", "acme"]);
  cli(service, ["teams", "set", "bob", "acme"]);
  const base = JSON.parse(fixture("small.json"));
  for (const [name, visibility] of [["private", "private"], ["team", "team"]]) {
    const body = { ...base, task: { ...base.task, id: `links-${name}-${Date.now()}` }, title: `A ${name} share`, visibility };
    const resp = await fetch(`${service.base}/api/sessions/create`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Syntx-Api-Key": service.key },
      body: JSON.stringify(body),
    });
    assert.equal(resp.status, 201, await resp.clone().text());
    made[name] = (await resp.json()).id;
  }
});

after(async () => {
  await browser?.close();
  service?.stop();
});

async function signIn(key) {
  const context = await browser.newContext();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: service.base });
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  await page.goto(`${service.base}/my`);
  await page.fill("#key", key);
  await page.press("#key", "Enter");
  await page.waitForSelector("#shares-panel:not([hidden])");
  return page;
}

test("the owner opens a private share from /my, and a private link opens it anywhere until revoked", async () => {
  const page = await signIn(service.key);
  const row = page.locator(`li[data-id="${made.private}"]`);
  await row.waitFor();
  assert.match(await row.locator(".meta").textContent(), /Private/);
  const [opened] = await Promise.all([page.context().waitForEvent("page"), row.locator(".share-title").click()]);
  await opened.waitForLoadState();
  assert.match(opened.url(), /\?link=/);
  assert.equal(await opened.textContent("#prompt").then((t) => t.length > 0), true);
  assert.ok((await opened.locator("article").count()) > 0, "the private share's messages are shown");
  await opened.close();

  // A private link for a day, copied; a browser with no key and no cookie opens it.
  await row.locator(`#link-time-${made.private}`).selectOption(String(86400));
  await row.getByRole("button", { name: "Copy private link" }).click();
  const output = row.locator(".made-link");
  await output.waitFor();
  const url = await output.inputValue();
  assert.match(url, new RegExp(`/session/${made.private}\\?link=`));
  const stranger = await browser.newPage();
  const seen = await stranger.goto(url);
  assert.equal(seen.status(), 200);
  assert.ok((await stranger.locator("article").count()) > 0);

  await row.getByRole("button", { name: "Revoke links" }).click();
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("revoked"));
  const after = await stranger.goto(url);
  assert.equal(after.status(), 404, "a revoked link opens nothing");
  await stranger.close();
  await page.context().close();
});

test("a team member sees the team's share in /my and opens it", async () => {
  const page = await signIn(bob);
  await page.waitForSelector("#team-panel:not([hidden])");
  const row = page.locator(`#team-shares li[data-id="${made.team}"]`);
  await row.waitFor();
  assert.match(await row.locator(".meta").textContent(), /By viragtiwari/);
  assert.equal(await page.locator(`#team-shares li[data-id="${made.private}"]`).count(), 0, "a private share is not the team's");
  const [opened] = await Promise.all([page.context().waitForEvent("page"), row.locator(".share-title").click()]);
  await opened.waitForLoadState();
  assert.ok((await opened.locator("article").count()) > 0, "the team share's messages are shown");
  await page.context().close();
});
