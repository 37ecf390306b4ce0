// Starts the real session-share binary and Debian's chromium for the browser tests.
//
// Storage: SESSION_SHARE_STORAGE and the AWS_* variables when set (CI points them at its S3
// server), else a fresh local directory.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// Committed sessions, and the generated large ones that `npm test` (pretest) writes with
// `cargo run --example sessions`.
const committed = join(repo, "tests", "fixtures");
const generated = join(repo, "target", "fixtures");
const binary = process.env.SESSION_SHARE_BIN ?? join(repo, "target", "debug", "session-share");

function serviceEnv() {
  const storage = process.env.SESSION_SHARE_STORAGE
    ? `${process.env.SESSION_SHARE_STORAGE.replace(/\/$/, "")}/browser-${Date.now()}`
    : `file://${mkdtempSync(join(tmpdir(), "session-share-browser-"))}`;
  return { ...process.env, SESSION_SHARE_STORAGE: storage, SESSION_SHARE_LOG_FORMAT: "json", RUST_LOG: "warn,session_share=info" };
}

/** The service on a free port, a key for `viragtiwari`, and a way to stop it. */
export async function startService(extraArgs = []) {
  const env = serviceEnv();
  const key = execFileSync(binary, ["keys", "create", "--username", "viragtiwari"], { env }).toString().trim();
  const child = spawn(binary, ["serve", "--bind", "127.0.0.1:0", "--read-rate", "off", "--write-rate", "off", ...extraArgs], { env, stdio: ["ignore", "ignore", "pipe"] });
  const base = await new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no address logged:\n${seen}`)), 20000);
    child.stderr.on("data", (chunk) => {
      seen += chunk;
      for (const line of seen.split("\n")) {
        try {
          const entry = JSON.parse(line);
          if (entry.fields?.message === "session-share listening") {
            clearTimeout(timer);
            resolve(`http://${entry.fields.address}`);
          }
        } catch { /* not a whole JSON line yet */ }
      }
    });
    child.on("exit", (code) => reject(new Error(`session-share exited with ${code}:\n${seen}`)));
  });
  return { base, key, env, stop: () => child.kill("SIGTERM") };
}

/** Runs the session-share command line on the service's storage; answers its stdout. */
export function cli(service, args) {
  return execFileSync(binary, args, { env: service.env }).toString();
}

/** A key for another user on the same service's storage. */
export function keyFor(service, username) {
  return execFileSync(binary, ["keys", "create", "--username", username], { env: service.env }).toString().trim();
}

/** Shares a session through the API, as the extension does; answers the create answer. */
export async function share(service, body) {
  const resp = await fetch(`${service.base}/api/sessions/create`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Syntx-Api-Key": service.key },
    body,
  });
  if (resp.status !== 201) throw new Error(`create: ${resp.status} ${await resp.text()}`);
  return resp.json();
}

export function fixture(name) {
  const dir = ["large.json", "xlarge.json"].includes(name) ? generated : committed;
  return readFileSync(join(dir, name));
}

/** Headless Debian chromium; never a downloaded browser. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}
