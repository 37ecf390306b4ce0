// The truest client test: the extension's own sharing code, as released (extension/), bundled
// with esbuild and run against the service with `vscode` and the task storage stubbed. Each
// version shares the committed sessions and the generated large one, shares them again, and imports them every way it can;
// what it saves must be the messages it shared.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { build } from "esbuild";
import { fixture, repo, startService } from "./harness.mjs";

const here = join(repo, "tests", "browser", "extension");
const stubs = join(here, "stubs");
let service;

/** One released version's sharing.ts as a module, with its own stubs. */
async function released(commit) {
  const { outputFiles } = await build({
    entryPoints: [join(here, commit, "sharing.ts")],
    bundle: true, platform: "node", format: "cjs", write: false, logLevel: "silent",
    plugins: [{
      name: "stubs",
      setup(b) {
        b.onResolve({ filter: /^vscode$/ }, () => ({ path: "vscode", external: true }));
        b.onResolve({ filter: /(task-persistence|utils\/storage|globalFileNames)/ }, () => ({ path: join(stubs, "persistence.ts") }));
      },
    }],
  });
  const vscode = createRequire(import.meta.url)(join(stubs, "vscode.cjs"))();
  const resolve = createRequire(join(here, commit, "sharing.cjs"));
  const require = (name) => (name === "vscode" ? vscode : resolve(name));
  const module = { exports: {} };
  new Function("module", "exports", "require", outputFiles[0].text)(module, module.exports, require);
  return { ...module.exports, vscode };
}

before(async () => {
  service = await startService();
  process.env.SYNTX_SESSIONS_BASE_URL = service.base;
});

after(() => service?.stop());

// large.json: 67 screenshots, so its stored form is the one with screenshots Huffman-coded.
const sessions = ["small.json", "medium.json", "large.json"].map((name) => [name, JSON.parse(fixture(name).toString("utf8"))]);

const store = (globalThis.extensionTaskStore ??= {});

/** Imports with `call`, and answers the messages the extension saved (none: it refused). */
async function imported(ext, call) {
  store.saved = undefined;
  ext.vscode.messages.errors.length = 0;
  await call();
  assert.deepEqual(ext.vscode.messages.errors, [], "the extension showed an error");
  return store.saved;
}

/** Shares `task` twice with `ext`; answers its share URL, the same both times. */
async function sharedTwice(ext, task, messages) {
  store.messages = messages;
  const url = await ext.exportTaskToCloud(task, "/unused", { token: service.key });
  assert.deepEqual(ext.vscode.messages.errors, []);
  assert.match(url, /\/session\/[A-Za-z0-9_-]{21}$/);
  assert.equal(await ext.exportTaskToCloud(task, "/unused", { token: service.key }), url, "a re-share keeps its link");
  return url;
}

for (const [name, doc] of sessions) {
  test(`the newer extension (1997ba0e) shares ${name}, shares it again, imports it by URL, id and code`, async () => {
    const ext = await released("1997ba0e");
    const task = { ...doc.task, id: `newer-${name}` };
    const url = await sharedTwice(ext, task, doc.messages);
    const id = url.split("/").pop();
    for (const pasted of [url, `${service.base}/api/sessions/${id}`, id, `viragtiwari/${id}`]) {
      const saved = await imported(ext, () => ext.importTaskFromCloudByUrl(pasted, "/unused", { token: service.key }));
      assert.deepEqual(saved, doc.messages, pasted);
    }
    // A public share's code imports without a key too.
    assert.deepEqual(await imported(ext, () => ext.importTaskFromCloudByUrl(`viragtiwari/${id}`, "/unused", {})), doc.messages);
  });

  test(`the older extension (d2576f0c) shares ${name}, shares it again, imports it by id, pasted share URL and API URL`, async () => {
    const ext = await released("d2576f0c");
    const task = { ...doc.task, id: `older-${name}` };
    const url = await sharedTwice(ext, task, doc.messages);
    const id = url.split("/").pop();
    assert.deepEqual(await imported(ext, () => ext.importTaskFromCloudById(id, "/unused", { token: service.key })), doc.messages);
    for (const pasted of [url, `${service.base}/api/sessions/${id}`]) {
      assert.deepEqual(await imported(ext, () => ext.importTaskFromCloudByUrl(pasted, "/unused", { token: service.key })), doc.messages, pasted);
    }
  });
}

test("a signed link to a private share: the older extension imports it pasted, without a key; without the link it is refused", async () => {
  const older = await released("d2576f0c");
  const [, doc] = sessions[0];
  const body = { ...doc, isPublic: false, task: { ...doc.task, id: "private-linked" } };
  const headers = { "Content-Type": "application/json", "Syntx-Api-Key": service.key };
  const created = await (await fetch(`${service.base}/api/sessions/create`, { method: "POST", headers, body: JSON.stringify(body) })).json();
  assert.ok(created.url, JSON.stringify(created));
  const link = await (await fetch(`${service.base}/api/sessions/${created.id}/links`, { method: "POST", headers, body: "{}" })).json();
  assert.match(link.url, /\?link=/);
  assert.deepEqual(await imported(older, () => older.importTaskFromCloudByUrl(link.url, "/unused", {})), doc.messages);
  store.saved = undefined;
  await older.importTaskFromCloudByUrl(created.url, "/unused", {});
  assert.equal(store.saved, undefined);
  assert.match(older.vscode.messages.errors.pop(), /^Import failed: 404 .*SESSION_NOT_FOUND/);
});
