// Guild dashboard: the one script. No build step, no dependencies.
//
// - Forms with data-call="<method>" post their fields as the method's JSON params to
//   /call/<method>, with the session's CSRF token in a header (the server refuses anything
//   else that changes state). Field names: "a.b" nests, "a[].b" makes a one-element list of
//   objects, data-list splits on commas and spaces, data-number and type=number give numbers,
//   empty fields are left out unless data-keep-empty.
// - A textarea with data-roles gives a list of roles, one per line "label: tags[: count]".
// - Forms with data-confirm="<question>" ask it first (close, withdraw: nothing undoes them).
// - Regions with data-live and an id are refreshed from the server when the node's event
//   stream (/events, server-sent events) reports something, without reloading the page.
"use strict";
(function () {
  const meta = document.querySelector('meta[name="guild-csrf"]');
  if (!meta) return;
  const csrf = meta.content;

  function set(obj, path, value) {
    const parts = path.split(".");
    let o = obj;
    parts.forEach(function (raw, i) {
      const list = raw.endsWith("[]");
      const key = list ? raw.slice(0, -2) : raw;
      const last = i === parts.length - 1;
      if (list) {
        if (last) { o[key] = (o[key] || []).concat([value]); return; }
        if (!o[key]) o[key] = [{}];
        o = o[key][0];
      } else if (last) {
        o[key] = value;
      } else {
        if (!o[key]) o[key] = {};
        o = o[key];
      }
    });
  }

  function params(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled) continue;
      let v;
      if (el.type === "radio" && !el.checked) continue;
      if (el.type === "checkbox") {
        v = el.checked;
      } else if (el.dataset.roles !== undefined) {
        // One role per line: "label: tags[: how many]" (a role's tags match skills and
        // resources alike, as `guild ask --role` does).
        v = el.value.split("\n").map(function (l) { return l.trim(); }).filter(Boolean).map(function (line) {
          const parts = line.split(":").map(function (p) { return p.trim(); });
          const role = { label: parts[0], skills: (parts[1] || "").split(/[\s,]+/).filter(Boolean) };
          if (parts[2]) role.count = Number(parts[2]);
          return role;
        });
        if (v.length === 0) continue;
      } else if (el.dataset.list !== undefined) {
        v = el.value.split(/[\s,]+/).filter(Boolean);
        if (v.length === 0) continue;
      } else if (el.type === "number" || el.dataset.number !== undefined) {
        if (el.value === "") continue;
        v = Number(el.value);
      } else {
        v = el.value;
        if (v === "" && el.dataset.keepEmpty === undefined) continue;
      }
      set(out, el.name, v);
    }
    return out;
  }

  function say(form, text, isError) {
    const status = form.querySelector(".form-status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  document.addEventListener("submit", async function (ev) {
    const form = ev.target;
    const method = form.dataset && form.dataset.call;
    if (!method) return;
    ev.preventDefault();
    // Forms that cannot be undone (close, withdraw) ask first.
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    say(form, "Working…", false);
    try {
      const resp = await fetch("/call/" + encodeURIComponent(method), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Guild-CSRF": csrf },
        body: JSON.stringify(params(form)),
      });
      const body = await resp.json().catch(function () { return null; });
      if (resp.status === 401) {
        ended();
        say(form, "Your session has ended: run \u201cguild web --open\u201d to log in again.", true);
        return;
      }
      if (!resp.ok) {
        const msg = body && body.error ? body.error.message : "the request failed (" + resp.status + ")";
        say(form, msg, true);
        return;
      }
      const next = form.dataset.next;
      if (next && body && body.id) {
        window.location.assign(next.replace("{id}", encodeURIComponent(body.id)));
        return;
      }
      // A message or offer that did not arrive is not "Done." (the CLI exits 5 for it).
      if (body && body.delivered === false) {
        say(form, body.retrying
          ? "Not delivered yet: the member is unreachable. The daemon keeps trying; the outcome appears among the overview's events."
          : "Not delivered: " + (body.error || "the member refused it."), true);
        await refresh(true);
        return;
      }
      say(form, "Done.", false);
      if (form.dataset.keep === undefined) {
        for (const el of form.elements) {
          if ((el.tagName === "TEXTAREA" || el.type === "text") && el.dataset.keepEmpty === undefined) el.value = "";
        }
      }
      await refresh(true);
    } catch (e) {
      say(form, "The daemon did not answer: " + e, true);
    } finally {
      if (button) button.disabled = false;
    }
  });

  // Replaces each data-live region with the server's current version, except one the user is
  // typing in (it is refreshed on the next event after they leave it).
  let refreshing = null;
  async function refresh(force) {
    const live = document.querySelectorAll("[data-live][id]");
    if (live.length === 0) return;
    const resp = await fetch(window.location.href, { credentials: "same-origin" });
    if (resp.status === 401) { ended(); return; }
    if (!resp.ok) return;
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    for (const region of live) {
      const fresh = doc.getElementById(region.id);
      if (!fresh) continue;
      const active = document.activeElement;
      const typing = !force && active && region.contains(active) &&
        (active.tagName === "TEXTAREA" || active.tagName === "INPUT") && active.value !== "";
      if (typing) continue;
      region.replaceWith(document.importNode(fresh, true));
    }
  }

  function schedule() {
    if (refreshing) return;
    refreshing = setTimeout(function () {
      refreshing = null;
      refresh(false).catch(function () {});
    }, 150);
  }

  const state = document.getElementById("live-state");

  // The session is gone (a restarted daemon knows no sessions, or the member logged out): say so
  // once, stop listening, and keep the page readable.
  let over = false;
  function ended() {
    if (over) return;
    over = true;
    if (events) events.close();
    if (state) state.textContent = "logged out";
    document.body.dataset.live = "ended";
    const notice = document.getElementById("session-ended");
    if (notice) notice.hidden = false;
  }

  // An event stream that fails is either a daemon that is away (the browser retries by itself)
  // or one that refused us (401: the browser gives up). Ask which.
  async function check() {
    try {
      const resp = await fetch("/session", { credentials: "same-origin" });
      if (resp.status === 401) { ended(); return; }
      if (resp.ok && events.readyState === EventSource.CLOSED) setTimeout(listen, 1000);
    } catch (e) {
      // The daemon is not answering: the stream keeps retrying, and this is asked again then.
    }
  }

  let events = null;
  function listen() {
    if (over) return;
    events = new EventSource("/events");
    events.onopen = function () { if (state) state.textContent = "live"; document.body.dataset.live = "open"; };
    events.onerror = function () {
      if (over) return;
      if (state) state.textContent = "reconnecting…";
      document.body.dataset.live = "error";
      check();
    };
    events.onmessage = schedule;
    KINDS.forEach(function (kind) {
      events.addEventListener(kind, function () {
        if (state) state.textContent = "live: " + kind;
        schedule();
      });
    });
  }

  const logout = document.querySelector("[data-logout]");
  if (logout) {
    logout.addEventListener("click", async function () {
      try {
        await fetch("/logout", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Guild-CSRF": csrf },
          body: "{}",
        });
      } finally {
        over = true;
        if (events) events.close();
        window.location.assign("/login");
      }
    });
  }

  const KINDS = [
    "peer.connected", "peer.disconnected", "profile.learned", "need.matched", "need.withdrawn",
    "offer.received", "offer.withdrawn", "delivery.outcome", "collab.opened", "collab.invited",
    "collab.entry",
    "message.received", "attestation.received", "attestation.equivocation", "trust.changed",
    "events.dropped", "intro.requested", "intro.received", "intro.answered", "invite.joined",
  ];
  listen();
})();
