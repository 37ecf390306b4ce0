// The owner's page (/my) in chromium: sign in with a key, see your shares and no one else's,
// change and delete them, page through many, sign out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startService, share, fixture, keyFor, launchBrowser, repo } from "./harness.mjs";

let service, browser;
const SHARES = 120;
const mine = new Map(); // id -> title
const HOSTILE = `<img src=x onerror="document.title='pwned'">"><script>document.title='pwned'</script>`;

before(async () => {
  service = await startService();
  browser = await launchBrowser();
  const base = JSON.parse(fixture("small.json"));
  const made = async (i, key, title, tags = []) => {
    const body = { ...base, task: { ...base.task, id: `owner-${i}-${Date.now()}` }, title, tags };
    const resp = await fetch(`${service.base}/api/sessions/create`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Syntx-Api-Key": key },
      body: JSON.stringify(body),
    });
    assert.equal(resp.status, 201, await resp.clone().text());
    return (await resp.json()).id;
  };
  for (let start = 0; start < SHARES; start += 12) {
    const batch = [];
    for (let i = start; i < Math.min(SHARES, start + 12); i++) {
      const title = i === 7 ? HOSTILE : `Share number ${String(i).padStart(3, "0")}`;
      const tags = i === 7 ? ["<b>bold</b>"] : i % 10 === 0 ? ["tenth"] : [];
      batch.push(made(i, service.key, title, tags).then((id) => mine.set(id, title)));
    }
    await Promise.all(batch);
  }
  // Someone else's share, which the owner's page must never show.
  await made(999, keyFor(service, "mallory"), "Mallory's own share");
});

after(async () => {
  await browser?.close();
  service?.stop();
});

async function signedIn(options = {}) {
  const page = await browser.newPage(options);
  page.on("dialog", (dialog) => {
    // Only the delete confirmation may ask anything; a script in a title would alert.
    assert.equal(dialog.type(), "confirm", dialog.message());
    page.lastDialog = dialog.message();
    dialog.accept();
  });
  await page.goto(`${service.base}/my`);
  await page.fill("#key", service.key);
  await page.press("#key", "Enter");
  await page.waitForSelector("#shares .share-row");
  assert.equal(await page.isHidden("#sign-in"), true, "signed in: the key form is gone");
  assert.equal(await page.locator("#shares form.edit:visible").count(), 0, "edit forms start closed");
  return page;
}

const rowOf = (page, id) => page.locator(`li[data-id="${id}"]`);

test("a wrong key shows the API's message and nothing else", async () => {
  const page = await browser.newPage();
  await page.goto(`${service.base}/my`);
  await page.fill("#key", "not-a-key");
  await page.click("#sign-in button[type=submit]");
  await page.waitForFunction(() => document.getElementById("status").textContent !== "");
  const status = await page.textContent("#status");
  const api = await fetch(`${service.base}/api/sessions`, { headers: { "Syntx-Api-Key": "not-a-key" } });
  assert.equal(status, `401 ${(await api.json()).error}`);
  assert.equal(await page.isHidden("#shares-panel"), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.close();
});

test("the owner sees their shares, 50 a page, and no one else's; 120 page through", async () => {
  const page = await signedIn();
  // The key is in this tab's sessionStorage only: not in the URL, not in a cookie.
  assert.equal(await page.evaluate(() => sessionStorage.getItem("session-share-api-key")), service.key);
  assert.ok(!page.url().includes(service.key));
  assert.deepEqual(await page.context().cookies(), []);
  const seen = [];
  for (const expected of [50, 50, 20]) {
    const ids = await page.$$eval("#shares .share-row", (rows) => rows.map((r) => r.dataset.id));
    assert.equal(ids.length, expected);
    seen.push(...ids);
    if (expected === 50) {
      const first = ids[0];
      await page.click("#next");
      await page.waitForFunction((f) => !document.querySelector(`li[data-id="${f}"]`), first);
    }
  }
  assert.equal(await page.isDisabled("#next"), true);
  assert.deepEqual(new Set(seen), new Set(mine.keys()));
  assert.equal(await page.textContent("#page-number"), "Page 3");
  await page.click("#previous");
  await page.waitForFunction(() => document.getElementById("page-number").textContent === "Page 2");

  // Search and tag filters are the API's.
  await page.fill("#q", "number 042");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#shares .share-row").length === 1);
  assert.equal(await page.textContent("#shares .share-title"), "Share number 042");
  await page.fill("#q", "");
  await page.fill("#tag", "tenth");
  await page.press("#tag", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#shares .share-row").length === 12);
  await page.close();
});

test("a hostile title and tag render as text", async () => {
  const page = await signedIn();
  await page.fill("#q", "onerror");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#shares .share-row").length === 1);
  assert.equal(await page.textContent("#shares .share-title"), HOSTILE);
  assert.equal(await page.textContent("#shares .tag"), "<b>bold</b>");
  assert.equal(await page.locator("#shares img, #shares script, #shares b").count(), 0);
  assert.notEqual(await page.title(), "pwned");
  await page.close();
});

test("make private, set an expiry, rename, delete: each through the API, by keyboard", async () => {
  const page = await signedIn();
  const [privateId, expiringId, renamedId, deletedId] = [...mine.keys()].filter((id) => mine.get(id) !== HOSTILE).slice(0, 4);
  for (const id of [privateId, expiringId, renamedId, deletedId]) {
    await page.fill("#q", mine.get(id));
    await page.press("#q", "Enter");
    await page.waitForSelector(`li[data-id="${id}"]`);
    await page.waitForFunction(() => document.querySelectorAll("#shares .share-row").length === 1);
    const row = rowOf(page, id);
    if (id === privateId) {
      // From the search box, Tab reaches the row's buttons; Enter presses them.
      await page.focus("#q");
      for (let i = 0; i < 20; i++) {
        await page.keyboard.press("Tab");
        if (await page.evaluate(() => document.activeElement?.textContent === "Make private")) break;
      }
      await page.keyboard.press("Enter");
      await page.waitForFunction((i) => document.querySelector(`li[data-id="${i}"] .meta`)?.textContent.includes("Private"), id);
      const anonymous = await fetch(`${service.base}/session/${id}`);
      assert.equal(anonymous.status, 404, "a private share's page is not found without the key");
    } else if (id === expiringId) {
      await row.getByRole("button", { name: "Edit" }).click();
      const tomorrow = new Date(Date.now() + 86_400_000);
      const pad = (n) => String(n).padStart(2, "0");
      const local = `${tomorrow.getFullYear()}-${pad(tomorrow.getMonth() + 1)}-${pad(tomorrow.getDate())}T12:00`;
      await row.locator("input[type=datetime-local]").fill(local);
      await row.getByRole("button", { name: "Save" }).press("Enter");
      await page.waitForFunction((i) => document.querySelector(`li[data-id="${i}"] .meta`)?.textContent.includes("Expires"), id);
      const record = await (await fetch(`${service.base}/api/sessions?q=${encodeURIComponent(mine.get(id))}`, { headers: { "Syntx-Api-Key": service.key } })).json();
      assert.equal(new Date(record.items[0].expiresAt).getTime(), new Date(local).getTime());
    } else if (id === renamedId) {
      await row.getByRole("button", { name: "Edit" }).click();
      await row.locator("input[type=text]").first().fill("Renamed by its owner");
      await row.locator("input[type=text]").first().press("Enter");
      await page.waitForFunction((i) => document.querySelector(`li[data-id="${i}"] .share-title`)?.textContent === "Renamed by its owner", id);
      assert.equal(await page.textContent("#status"), "“Renamed by its owner” saved.");
    } else {
      await row.getByRole("button", { name: "Delete" }).click();
      await page.waitForFunction((i) => !document.querySelector(`li[data-id="${i}"]`), id);
      assert.match(page.lastDialog, new RegExp(`Delete “${mine.get(id)}”\\?`));
      const gone = await fetch(`${service.base}/session/${id}`);
      assert.equal(gone.status, 404);
    }
  }
  await page.close();
});

test("sign out forgets the key; screenshots at desktop and phone width", async () => {
  const dir = join(repo, "target", "screenshots");
  mkdirSync(dir, { recursive: true });
  const desktop = await signedIn({ viewport: { width: 1200, height: 1400 } });
  await desktop.screenshot({ path: join(dir, "my.png") });
  await desktop.click("#sign-out");
  assert.equal(await desktop.evaluate(() => sessionStorage.getItem("session-share-api-key")), null);
  assert.equal(await desktop.isVisible("#sign-in"), true);
  assert.equal(await desktop.locator("#shares .share-row").count(), 0);
  await desktop.close();

  const phone = await signedIn({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
  await phone.screenshot({ path: join(dir, "my-phone-dark.png") });
  await phone.close();
});

test("every share page links to the owner's page", async () => {
  const page = await browser.newPage();
  // The last made: the test above changed the first few.
  await page.goto(`${service.base}/session/${[...mine.keys()].at(-1)}`);
  await page.click("#manage");
  await page.waitForURL(`${service.base}/my`);
  await page.close();
});
