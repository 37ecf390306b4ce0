// The extension's HTTP client is Node's fetch. Refusals of large bodies must reach it as
// the JSON error, not as "fetch failed: EPIPE" because the service stopped reading.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { keyFor, startService } from "./harness.mjs";

let service;

before(async () => {
  service = await startService(["--max-body", "8MiB"]);
});

after(() => service?.stop());

// A valid-looking session of about `mb` megabytes.
function session(mb) {
  const text = "x".repeat(1024 * 1024);
  const messages = Array.from({ length: mb }, (_, i) => ({ ts: i, type: "say", say: "text", text }));
  return JSON.stringify({ version: "1.0.0", task: { id: "t", number: 1, ts: 0, task: "big", tokensIn: 0, tokensOut: 0, totalCost: 0 }, messages });
}

// Without the service reading (and discarding) the rest of the body, 3 of 10 tries of 10 MB
// and 6 of 10 of 40 MB failed with EPIPE against the release build.
for (const mb of [10, 40]) test(`an over-limit share of ${mb} MB reaches Node's fetch as 413 PAYLOAD_TOO_LARGE, every time`, async () => {
  const body = session(mb);
  for (let i = 0; i < 10; i++) {
    const resp = await fetch(`${service.base}/api/sessions/create`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Syntx-Api-Key": service.key },
      body,
    });
    assert.equal(resp.status, 413, `try ${i}`);
    assert.equal((await resp.json()).code, "PAYLOAD_TOO_LARGE");
  }
});

// A refusal that comes before the body is read (a wrong key) reaches the client as well: the
// service reads and discards the rest, so the connection stays usable for the next request.
for (const [route, header] of [["/api/sessions/create", "Syntx-Api-Key"], ["/api/sessions", "Syntx-Api-Key"], ["/api/sessions/create", "Authorization"]]) {
  test(`a 60 MB share with a wrong key on ${route} (${header}) reaches Node's fetch as 401, every time`, async () => {
    const body = session(60);
    const value = header === "Authorization" ? "Bearer ssk_wrong" : "ssk_wrong";
    for (let i = 0; i < 10; i++) {
      const resp = await fetch(`${service.base}${route}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", [header]: value },
        body,
      });
      assert.equal(resp.status, 401, `try ${i}`);
      assert.equal((await resp.json()).code, "INVALID_API_KEY");
      // The same kept-alive connection serves the next request.
      const health = await fetch(`${service.base}/api/health`);
      assert.equal(health.status, 200, `try ${i}: the next request`);
      await health.arrayBuffer();
    }
  });
}

test("replacing someone else's share reaches Node's fetch as 403, every time", async () => {
  const created = await fetch(`${service.base}/api/sessions/create`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Syntx-Api-Key": service.key },
    body: session(1),
  });
  assert.equal(created.status, 201);
  const { id } = await created.json();
  const bob = keyFor(service, "bob");
  const body = session(7);
  for (let i = 0; i < 10; i++) {
    const resp = await fetch(`${service.base}/api/sessions/${id}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", "Syntx-Api-Key": bob },
      body,
    });
    assert.equal(resp.status, 403, `try ${i}`);
    assert.equal((await resp.json()).code, "ACCESS_DENIED");
  }
});

// Chunked, with no length: refused at --max-body as it arrives, and the rest read and
// discarded up to the service's bound (128 MiB); a body beyond it is cut with Connection:
// close, so Node's fetch may see the connection end first. Counted, not required.
test("a 100 MB chunked share reaches Node's fetch as 413, every time", async () => {
  const chunk = new TextEncoder().encode("x".repeat(1024 * 1024));
  let refused = 0;
  for (let i = 0; i < 5; i++) {
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"version": "1.0.0", "messages": ["'));
        for (let n = 0; n < 100; n++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const resp = await fetch(`${service.base}/api/sessions/create`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Syntx-Api-Key": service.key },
      body: stream,
      duplex: "half",
    });
    assert.equal(resp.status, 413, `try ${i}`);
    assert.equal((await resp.json()).code, "PAYLOAD_TOO_LARGE");
    refused++;
  }
  assert.equal(refused, 5);
});

test("a large keyless share on the older route reaches Node's fetch as 401", async () => {
  const body = session(3);
  for (let i = 0; i < 3; i++) {
    const resp = await fetch(`${service.base}/api/sessions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    assert.equal(resp.status, 401, `try ${i}`);
    assert.equal((await resp.json()).code, "MISSING_API_KEY");
  }
});

// Node's fetch asks for gzip and decodes it: the extension gets the stored (compressed) bytes
// and reads the session it shared, byte for byte, by every import route; and it may upload
// gzip itself.
test("Node's fetch imports a share served gzip-compressed, byte for byte", async () => {
  const { gzipSync } = await import("node:zlib");
  const body = JSON.stringify(JSON.parse(session(1)), null, 1);
  for (const compressed of [false, true]) {
    const created = await fetch(`${service.base}/api/sessions/create`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Syntx-Api-Key": service.key,
        ...(compressed ? { "Content-Encoding": "gzip" } : {}),
      },
      body: compressed ? gzipSync(body) : body,
    });
    assert.equal(created.status, 201);
    const { id, username } = await created.json();
    const reads = [
      fetch(`${service.base}/api/sessions/${id}`),
      fetch(`${service.base}/api/sessions/${username}/${id}`),
      fetch(`${service.base}/api/sessions`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ id, username }),
      }),
    ];
    for (const resp of await Promise.all(reads)) {
      assert.equal(resp.status, 200);
      assert.equal(resp.headers.get("content-encoding"), "gzip");
      assert.ok(Number(resp.headers.get("content-length")) < body.length / 10);
      assert.equal(await resp.text(), body);
    }
  }
});

// The older extension imports a pasted share URL by GETting it as it stands, with
// `Accept: application/json` and the key as a bearer token, then checks the JSON's shape
// (`version`, `task`, `messages`). Before the page route negotiated, it got the HTML page and
// showed "Import failed: Unexpected token '<'".
test("the older extension's import of a pasted share URL gets the session JSON", async () => {
  const body = JSON.stringify({ ...JSON.parse(session(1)), isPublic: false, task: { ...JSON.parse(session(1)).task, id: "pasted-url" } });
  const created = await fetch(`${service.base}/api/sessions/create`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Syntx-Api-Key": service.key },
    body,
  });
  assert.equal(created.status, 201);
  const { url } = await created.json();
  assert.match(url, /\/session\/[A-Za-z0-9_-]{21}$/);
  const resp = await fetch(url, { headers: { Accept: "application/json", Authorization: `Bearer ${service.key}` } });
  assert.equal(resp.status, 200);
  const session_ = await resp.json();
  assert.equal(typeof session_.version, "string");
  assert.ok(Array.isArray(session_.messages) && session_.task);
  assert.equal(JSON.stringify(session_), JSON.stringify(JSON.parse(body)));
  // What an agent reads of the same link: with the owner's key, the transcript; without, nothing.
  const markdown = await fetch(`${url}.md`, { headers: { Authorization: `Bearer ${service.key}` } });
  assert.equal(markdown.status, 200, "the page routes honour the owner's key");
  assert.match(markdown.headers.get("cache-control"), /private/);
  assert.ok((await markdown.text()).includes(JSON.parse(body).task.task.slice(0, 40)));
  const anonymous = await fetch(`${url}.md`);
  assert.equal(anonymous.status, 404, "a private share's transcript is not public");
});
