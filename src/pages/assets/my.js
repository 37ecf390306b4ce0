// session-share owner page (/my): the only script it runs (see its Content-Security-Policy).
// It calls the service's own API with the owner's key, kept in this tab's sessionStorage
// only, and writes every share's fields as text, never as markup.
"use strict";

const KEY = "session-share-api-key";
const PAGE_SIZE = 50;

const $ = (id) => document.getElementById(id);
const state = { cursors: [null], page: 0, q: "", tag: "" };

function key() {
  return sessionStorage.getItem(KEY);
}

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

/** Calls the API as the owner; answers [response, JSON body or null]. */
async function api(method, path, body, withKey = key()) {
  const headers = { "Syntx-Api-Key": withKey, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = null;
  if (resp.status !== 204) {
    try { json = await resp.json(); } catch { json = null; }
  }
  return [resp, json];
}

/** The API's own message for a refusal, as it stands. */
function refusal(resp, json) {
  return `${resp.status} ${json && json.error ? json.error : resp.statusText}`;
}

function listPath(cursor) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set("cursor", cursor);
  if (state.q) params.set("q", state.q);
  if (state.tag) params.set("tag", state.tag);
  return `/api/sessions?${params}`;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** An element with text (never markup) and attributes. */
function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function button(label, onClick, attrs = {}) {
  const b = el("button", label, { type: "button", class: "button small", ...attrs });
  b.addEventListener("click", onClick);
  return b;
}

async function copy(text, b) {
  const label = b.textContent;
  try {
    await navigator.clipboard.writeText(text);
    b.textContent = "Copied";
  } catch {
    window.prompt("Copy:", text);
  }
  setTimeout(() => { b.textContent = label; }, 2000);
}

/** `datetime-local` value of an ISO time, in the browser's zone. */
function localInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const VISIBILITY = { public: "Public", team: "Team", private: "Private" };
const LINK_TIMES = [["1 hour", 3600], ["1 day", 86400], ["7 days", 7 * 86400], ["30 days", 30 * 86400]];

/** A share's title, opening it: a share that is not public opens through the signed link the
 * listing made for it (10 minutes), as a browser sends no key. */
function titleLink(share) {
  return el("a", share.title || "(untitled)", { href: share.linkUrl || share.url, class: "share-title", target: "_blank", rel: "noopener" });
}

function row(share) {
  const li = el("li", null, { class: "share-row", "data-id": share.id });
  const title = titleLink(share);
  li.append(el("h2", null, { class: "share-heading" }));
  li.firstChild.append(title);

  const facts = [
    `Shared ${when(share.createdAt)}`,
    size(share.size),
    `${share.messageCount} messages`,
    VISIBILITY[share.visibility] || (share.isPublic ? "Public" : "Private"),
    share.expiresAt ? `Expires ${when(share.expiresAt)}` : "Never expires",
  ];
  if (share.revisionCount > 1) facts.push(`${share.revisionCount} revisions`);
  if (share.redactions > 0) facts.push(`${share.redactions} credential${share.redactions === 1 ? "" : "s"} redacted`);
  const meta = el("p", facts.join(" · "), { class: "meta" });
  li.append(meta);
  if (share.tags.length) {
    const tags = el("p", null, { class: "tags" });
    for (const t of share.tags) tags.append(el("span", t, { class: "tag" }));
    li.append(tags);
  }

  const actions = el("div", null, { class: "row-actions" });
  actions.append(
    button("Copy link", (e) => copy(share.url, e.currentTarget)),
    button("Copy share code", (e) => copy(share.shareCode, e.currentTarget)),
    button(share.isPublic ? "Make private" : "Make public", () => change(share, { isPublic: !share.isPublic },
      share.isPublic ? "made private" : "made public")),
    ...(share.visibility === "team" ? [] : [button("Team only", () => change(share, { visibility: "team" }, "shared with your team"))]),
    button("Edit", (e) => {
      form.hidden = !form.hidden;
      e.currentTarget.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) form.querySelector("input").focus();
    }, { "aria-expanded": "false" }),
    button("Delete", () => remove(share), { class: "button small danger" }),
  );
  li.append(actions);

  // Signed links: one to copy, with how long it lasts; all of them revoked at once.
  const links = el("div", null, { class: "row-actions links" });
  const lasts = el("select", null, { id: `link-time-${share.id}`, "aria-label": "Link lasts" });
  for (const [label, seconds] of LINK_TIMES) lasts.append(el("option", label, { value: String(seconds) }));
  lasts.value = String(7 * 86400);
  links.append(
    lasts,
    button("Copy private link", (e) => makeLink(share, Number(lasts.value), e.currentTarget)),
    button("Revoke links", () => revokeLinks(share)),
  );
  li.append(links);

  // Title, tags and expiry, changed together with one PATCH.
  const form = el("form", null, { class: "edit", hidden: "" });
  const id = (name) => `${name}-${share.id}`;
  const titleInput = el("input", null, { id: id("title"), type: "text", maxlength: "200" });
  titleInput.value = share.title;
  const tagsInput = el("input", null, { id: id("tags"), type: "text", spellcheck: "false" });
  tagsInput.value = share.tags.join(", ");
  const expiryInput = el("input", null, { id: id("expiry"), type: "datetime-local" });
  if (share.expiresAt) expiryInput.value = localInput(share.expiresAt);
  form.append(
    el("label", "Title", { for: id("title") }), titleInput,
    el("label", "Tags (comma-separated)", { for: id("tags") }), tagsInput,
    el("label", "Expires", { for: id("expiry") }), expiryInput,
  );
  const buttons = el("div", null, { class: "row-actions" });
  buttons.append(
    el("button", "Save", { type: "submit", class: "button small primary" }),
    button("Never expire", () => change(share, { expiresAt: null }, "set to never expire")),
  );
  form.append(buttons);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const update = {
      title: titleInput.value,
      tags: tagsInput.value.split(",").map((t) => t.trim()).filter((t) => t),
    };
    if (expiryInput.value) update.expiresAt = new Date(expiryInput.value).toISOString();
    change(share, update, "saved");
  });
  li.append(form);
  return li;
}

async function change(share, update, done) {
  const [resp, json] = await api("PATCH", `/api/sessions/${share.id}`, update);
  if (!resp.ok) return failed(resp, json);
  const old = document.querySelector(`li[data-id="${share.id}"]`);
  const fresh = row(json);
  old.replaceWith(fresh);
  fresh.querySelector(".share-title").focus();
  say(`“${json.title}” ${done}.`);
}

async function makeLink(share, seconds, b) {
  const expiresAt = new Date(Date.now() + seconds * 1000).toISOString();
  const [resp, json] = await api("POST", `/api/sessions/${share.id}/links`, { expiresAt });
  if (!resp.ok) return failed(resp, json);
  const output = document.querySelector(`li[data-id="${share.id}"] .made-link`) || el("input", null, { class: "made-link", readonly: "", "aria-label": "Private link" });
  output.value = json.url;
  b.closest(".links").append(output);
  await copy(json.url, b);
  say(`A private link to “${share.title}”, until ${when(json.expiresAt)}.`);
}

async function revokeLinks(share) {
  if (!window.confirm(`Revoke every link to “${share.title}”? Whoever has one can no longer open it.`)) return;
  const [resp, json] = await api("DELETE", `/api/sessions/${share.id}/links`);
  if (!resp.ok) return failed(resp, json);
  document.querySelector(`li[data-id="${share.id}"] .made-link`)?.remove();
  say(`Every link to “${share.title}” is revoked.`);
}

/** The team's shares (anyone's in the caller's team), each opened through its signed link. */
async function loadTeam() {
  const [resp, json] = await api("GET", "/api/team/sessions?limit=50");
  if (!resp.ok) return failed(resp, json);
  const list = $("team-shares");
  list.replaceChildren(...json.items.map((share) => {
    const li = el("li", null, { class: "share-row", "data-id": share.id });
    li.append(el("h2", null, { class: "share-heading" }));
    li.firstChild.append(titleLink(share));
    const owner = share.shareCode.split("/")[0];
    li.append(el("p", [`By ${owner}`, `Shared ${when(share.createdAt)}`, `${share.messageCount} messages`].join(" · "), { class: "meta" }));
    return li;
  }));
  $("team-panel").hidden = json.items.length === 0;
}

async function remove(share) {
  if (!window.confirm(`Delete “${share.title}”? Its link stops working for everyone, and this cannot be undone.`)) return;
  const [resp, json] = await api("DELETE", `/api/sessions/${share.id}`);
  if (!resp.ok) return failed(resp, json);
  document.querySelector(`li[data-id="${share.id}"]`)?.remove();
  say(`“${share.title}” deleted.`);
}

function failed(resp, json) {
  say(refusal(resp, json), true);
  // A key revoked meanwhile: nothing more can be done with it.
  if (resp.status === 401) signOut(false);
}

async function load(page) {
  const [resp, json] = await api("GET", listPath(state.cursors[page]));
  if (!resp.ok) return failed(resp, json);
  state.page = page;
  state.cursors.length = page + 1;
  if (json.nextCursor) state.cursors.push(json.nextCursor);
  const list = $("shares");
  list.replaceChildren(...json.items.map(row));
  if (!json.items.length) list.append(el("li", state.q || state.tag ? "No share matches." : "You have not shared anything yet.", { class: "empty" }));
  $("page-number").textContent = `Page ${page + 1}`;
  $("previous").disabled = page === 0;
  $("next").disabled = !json.nextCursor;
  say(`${json.items.length} share${json.items.length === 1 ? "" : "s"} on this page.`);
}

function show(signedIn) {
  $("sign-in").hidden = signedIn;
  $("shares-panel").hidden = !signedIn;
}

function signOut(clearStatus = true) {
  sessionStorage.removeItem(KEY);
  $("shares").replaceChildren();
  $("team-shares").replaceChildren();
  $("team-panel").hidden = true;
  state.cursors = [null];
  show(false);
  if (clearStatus) say("Signed out.");
  $("key").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = $("key").value.trim();
    if (!typed) return;
    // The key is kept only once the API has accepted it.
    const [resp, json] = await api("GET", listPath(null), undefined, typed);
    if (!resp.ok) return say(refusal(resp, json), true);
    sessionStorage.setItem(KEY, typed);
    $("key").value = "";
    show(true);
    await load(0);
    await loadTeam();
    $("q").focus();
  });
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = $("q").value.trim();
    state.tag = $("tag").value.trim();
    state.cursors = [null];
    load(0);
  });
  $("next").addEventListener("click", () => load(state.page + 1));
  $("previous").addEventListener("click", () => load(state.page - 1));
  $("sign-out").addEventListener("click", () => signOut());
  if (key()) {
    show(true);
    load(0).then(loadTeam);
  } else {
    show(false);
  }
});
