/* The playground page: polls what the current person sees, and reports what they do.
 * Every act is a POST to the playground's /api/…, which signs it as Slack would and posts it to the bot. */
"use strict";

const $ = (id) => document.getElementById(id);
const { el } = BlockKit;

const ui = {
  me: localStorage.getItem("jitbot-playground-me") || "U0ALICE01",
  place: null,           // a channel id, or "home"
  thread: null,          // ts of the open thread
  snap: null,            // the last snapshot
  drawn: {},             // JSON of what each part was drawn from
  forms: {},             // view id -> form state (modals and the App Home keep what was typed)
  seen: {},              // channel id -> number of messages seen (unread dots)
};

async function api(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify({ user: ui.me, ...body }) });
  let answer = {};
  try { answer = await response.json(); } catch (err) { answer = { ok: false, error: "no answer" }; }
  if (!answer.ok && !answer.errors) notice(answer.error || "failed");
  setTimeout(poll, 150);
  setTimeout(poll, 900);
  return answer;
}

let noticeTimer = null;
function notice(text, good) {
  const box = $("notice");
  box.textContent = text;
  box.className = good ? "good" : "";
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

function confirmDialog(obj) {
  return new Promise((resolve) => {
    $("confirm-title").textContent = BlockKit.plain(obj.title) || "Are you sure?";
    $("confirm-text").replaceChildren(BlockKit.mrkdwn(obj.text ? obj.text.text || "" : "", ui.snap.directory));
    $("confirm-yes").textContent = BlockKit.plain(obj.confirm) || "Yes";
    $("confirm-deny").textContent = BlockKit.plain(obj.deny) || "Cancel";
    $("confirm-layer").hidden = false;
    const done = (value) => { $("confirm-layer").hidden = true; resolve(value); };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-deny").onclick = () => done(false);
  });
}

function surface(where, state, errors) {
  return {
    directory: ui.snap.directory, state, errors: errors || {}, confirm: confirmDialog,
    act: (blockId, action) => api("/api/action", { where, block_id: blockId, action, state }),
    suggest: async (blockId, actionId, value) => {
      const answer = await api("/api/options", { view_id: where.view_id, block_id: blockId, action_id: actionId,
                                                 value, state });
      return answer.options || [];
    },
  };
}

/* -- drawing -------------------------------------------------------------------------------------------- */
function changed(part, data) {
  const json = JSON.stringify(data);
  if (ui.drawn[part] === json) return false;
  ui.drawn[part] = json;
  return true;
}

function person(id) { return ui.snap.directory.users[id] || id; }

function drawSidebar() {
  const snap = ui.snap;
  if (changed("people", snap.people)) {
    $("you").replaceChildren(...snap.people.map((p) => {
      const option = el("option", null, p.name);
      option.value = p.id;
      return option;
    }));
  }
  $("you").value = ui.me;
  const me = snap.people.find((p) => p.id === ui.me);
  $("role").textContent = me ? me.role : "";
  const item = (id, label) => {
    const button = el("button", "nav-item" + (ui.place === id ? " active" : ""), label);
    button.type = "button";
    button.dataset.channel = id;
    const channel = snap.channels.find((c) => c.id === id);
    if (channel && ui.place !== id && channel.messages.length > (ui.seen[id] || 0)) button.appendChild(el("span", "dot"));
    button.onclick = () => go(id);
    return el("li").appendChild(button).parentNode;
  };
  const rooms = snap.channels.filter((c) => c.kind !== "dm");
  const dms = snap.channels.filter((c) => c.kind === "dm");
  $("channels").replaceChildren(...rooms.map((c) => item(c.id, "# " + c.name)));
  $("dms").replaceChildren(...dms.map((c) => item(c.id, "\u25cf " + c.name + " (you and the app)")));
  $("home-link").classList.toggle("active", ui.place === "home");
}

function messageNode(message, channel, inThread) {
  const node = el("div", "message" + (message.ephemeral ? " ephemeral" : "") + (message.kind === "command" ? " command" : ""));
  node.dataset.ts = message.ts;
  const own = message.kind === "command";
  node.appendChild(el("div", "avatar" + (own ? " person" : ""), own ? person(ui.me)[0] : "J"));
  const body = node.appendChild(el("div", "body"));
  const meta = body.appendChild(el("div", "meta"));
  meta.appendChild(el("span", "name", own ? person(ui.me) : "jitbot"));
  if (!own) meta.appendChild(el("span", "app", "APP"));
  meta.appendChild(el("span", "time", message.time));
  if (message.edited) meta.appendChild(el("span", "edited", "(edited)"));
  if (message.ephemeral) body.appendChild(el("div", "only-you", "Only visible to you"));
  if (own) {
    body.appendChild(el("div", "line", message.text));
  } else if (message.blocks && message.blocks.length) {
    const where = message.ephemeral ? { kind: "ephemeral", channel, ts: message.ts } : { kind: "message", channel, ts: message.ts };
    body.appendChild(BlockKit.render(message.blocks, surface(where, {}, {})));
  } else {
    body.appendChild(BlockKit.mrkdwn(message.text, ui.snap.directory));
  }
  if (!inThread && message.replies && message.replies.length) {
    const link = el("button", "replies", `${message.replies.length} ${message.replies.length === 1 ? "reply" : "replies"}`);
    link.type = "button";
    link.onclick = () => { ui.thread = message.ts; ui.drawn.thread = null; draw(); };
    body.appendChild(link);
  }
  return node;
}

function drawConversation() {
  const snap = ui.snap;
  const home = ui.place === "home";
  $("messages").hidden = home;
  $("home").hidden = !home;
  $("composer").hidden = home;
  const channel = snap.channels.find((c) => c.id === ui.place);
  const title = home ? "jitbot · Home" : channel ? (channel.kind === "dm" ? "jitbot" : "# " + channel.name) : "";
  if (changed("title", [title, ui.me])) {
    $("title").replaceChildren(el("span", null, title),
                               el("span", "sub", home ? "the App Home tab" : channel && channel.kind === "dm" ? "your DM with the app" : ""));
  }
  if (home) {
    if (!changed("home", [ui.me, snap.home])) return;
    const view = snap.home;
    if (!view) { $("home").replaceChildren(el("div", "empty", "Opening the App Home…")); return; }
    const state = (ui.forms[view.id] = ui.forms[view.id] || {});
    $("home").replaceChildren(BlockKit.render(view.blocks, surface({ kind: "home", view_id: view.id }, state, {})));
    return;
  }
  if (!channel) return;
  ui.seen[channel.id] = channel.messages.length;
  if (!changed("messages", [ui.me, channel.id, channel.messages])) return;
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  if (!channel.messages.length) box.replaceChildren(el("div", "empty", "No messages yet. Type /jit help below."));
  else box.replaceChildren(...channel.messages.map((m) => messageNode(m, channel.id, false)));
  if (atBottom || !ui.drawn.scrolled) { box.scrollTop = box.scrollHeight; ui.drawn.scrolled = true; }
}

function drawThread() {
  const channel = ui.snap.channels.find((c) => c.id === ui.place);
  const parent = channel && channel.messages.find((m) => m.ts === ui.thread);
  $("thread").hidden = !parent;
  if (!parent || !changed("thread", [ui.me, parent])) return;
  $("thread-messages").replaceChildren(messageNode(parent, channel.id, true),
                                       ...parent.replies.map((m) => messageNode(m, channel.id, true)));
}

function drawModal() {
  const modal = ui.snap.modal;
  $("modal-layer").hidden = !modal;
  if (!modal || !changed("modal", [ui.me, modal])) return;
  const view = modal.view;
  const old = ui.forms[view.id] || {};
  const present = new Set((view.blocks || []).map((b) => b.block_id));
  const state = {};
  Object.keys(old).filter((b) => present.has(b)).forEach((b) => { state[b] = old[b]; });  // as Slack keeps inputs
  ui.forms[view.id] = state;
  $("modal-title").textContent = BlockKit.plain(view.title);
  $("modal-body").replaceChildren(BlockKit.render(view.blocks, surface({ kind: "modal", view_id: view.id }, state, modal.errors)));
  $("modal-submit").hidden = !view.submit;
  $("modal-submit").textContent = BlockKit.plain(view.submit);
  $("modal-close").textContent = BlockKit.plain(view.close) || "Close";
  $("modal-submit").onclick = async () => {
    $("modal-submit").disabled = true;
    try { await api("/api/submit", { view_id: view.id, state: ui.forms[view.id] }); }
    finally { $("modal-submit").disabled = false; }
  };
  const close = () => api("/api/close", { view_id: view.id });
  $("modal-close").onclick = close;
  $("modal-x").onclick = close;
}

function left(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds <= 0) return "past";
  const minutes = Math.ceil(seconds / 60);
  return minutes >= 60 ? `${Math.floor(minutes / 60)}h ${minutes % 60}m left` : `${minutes}m left`;
}

function drawAws() {
  const { aws, clock } = ui.snap;
  if (changed("clock", clock)) {
    const shift = clock.shift_minutes ? `+${clock.shift_minutes >= 60 ? Math.floor(clock.shift_minutes / 60) + "h " : ""}${clock.shift_minutes % 60}m` : "real time";
    $("clock-now").replaceChildren(el("span", null, clock.local), el("span", "shift", `${clock.zone} · ${shift}`));
  }
  if (changed("grants", [ui.me, aws.grants])) {
    $("no-grants").hidden = aws.grants.length > 0;
    $("grants").querySelector("tbody").replaceChildren(...aws.grants.map((g) => {
      const row = el("tr");
      row.dataset.request = g.request;
      row.appendChild(el("td", null, g.request)).appendChild(el("span", "sub", "jitbot-" + g.request));
      row.appendChild(el("td", null, g.person)).appendChild(el("span", "sub", g.principal.split(":").pop()));
      const node = row.appendChild(el("td", null, g.node_name || g.node));
      node.appendChild(el("span", "sub", g.node));
      const until = row.appendChild(el("td", null, g.expires || "—"));
      until.appendChild(el("span", "sub left", left(g.left_seconds)));
      return row;
    }));
  }
  if (changed("nodes", aws.nodes)) {
    $("session-node").replaceChildren(...aws.nodes.map((n) => {
      const option = el("option", null, `${n.name} (${n.id})`);
      option.value = n.id;
      return option;
    }));
  }
  $("open-session").textContent = "Open session as " + person(ui.me);
  if (changed("sessions", aws.sessions)) {
    $("no-sessions").hidden = aws.sessions.length > 0;
    $("sessions").querySelector("tbody").replaceChildren(...aws.sessions.map((s) => {
      const row = el("tr");
      row.dataset.session = s.id;
      row.appendChild(el("td", null, s.who)).appendChild(el("span", "sub", s.id));
      row.appendChild(el("td", null, s.node_name || s.node)).appendChild(el("span", "sub", s.node));
      row.appendChild(el("td", "status " + (s.live ? "live" : "ended"), s.status));
      return row;
    }));
  }
}

function draw() {
  if (!ui.snap) return;
  drawSidebar();
  drawConversation();
  drawThread();
  drawModal();
  drawAws();
}

/* -- moving around -------------------------------------------------------------------------------------- */
function go(place) {
  ui.place = place;
  ui.thread = null;
  ui.drawn = {};
  if (place === "home") api("/api/home", {});
  draw();
}

async function poll() {
  try {
    const response = await fetch("/api/state?user=" + encodeURIComponent(ui.me));
    if (!response.ok) return;
    ui.snap = await response.json();
    if (!ui.place) ui.place = "D" + ui.me;
    draw();
  } catch (err) { /* the playground is restarting; the next poll will tell */ }
}

function init() {
  $("you").addEventListener("change", () => {
    ui.me = $("you").value;
    localStorage.setItem("jitbot-playground-me", ui.me);
    ui.forms = {};
    ui.seen = {};
    const dm = ui.place && ui.place.startsWith("D");
    go(dm ? "D" + ui.me : ui.place === "home" ? "home" : ui.place);
    poll();
  });
  $("home-link").onclick = () => go("home");
  $("thread-close").onclick = () => { ui.thread = null; draw(); };
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("compose").value.trim();
    if (!text) return;
    const answer = await api("/api/command", { channel: ui.place, text });
    if (answer.ok) $("compose").value = "";
  });
  document.querySelectorAll("[data-minutes]").forEach((button) => {
    button.onclick = () => api("/api/clock", { minutes: Number(button.dataset.minutes) });
  });
  $("clock-custom").addEventListener("submit", (event) => {
    event.preventDefault();
    const minutes = Number($("clock-minutes").value);
    if (minutes > 0) api("/api/clock", { minutes });
  });
  $("session-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await api("/api/session", { node: $("session-node").value });
    if (answer.ok) notice(`Session ${answer.session} opened under grant ${answer.grant}.`, true);
  });
  poll();
  setInterval(poll, 1000);
}

init();
