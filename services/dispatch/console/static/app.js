// The dispatcher console: sign-in, the live queue, the P1 alarm, the incident view, call pop-ups.
import { api, ApiError, setCsrf } from "./api.js";
import { applyStatic, label, lang, reason, setLang, t } from "./i18n.js";
import { drawMap } from "./map.js";

const ACTIVE = ["open", "acknowledged", "dispatched", "on_scene"];
const PRIORITIES = ["P1", "P2", "P3", "P4"];
const $ = (id) => document.getElementById(id);

const state = {
  config: { timezone: "Asia/Shanghai", tile_url: "", mute_seconds: 120 },
  me: null,
  rows: new Map(), // incident id -> queue row
  selected: null,
  lastEventId: null,
  lastCallId: null,
  mutedUntil: 0,
  audioUnlocked: false,
  call: null,
  feedback: null, // {incidentId, kind, text} of the last action
  streams: [],
};

// ---- formatting -----------------------------------------------------------------------------

function fmtTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang(), {
    timeZone: state.config.timezone,
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  }).format(new Date(iso));
}

function fmtAge(iso) {
  const seconds = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? t("age.hours", { h, m }) : t("age.format", { m, s: String(s).padStart(2, "0") });
}

const km = (value) => t("map.km", { km: value.toFixed(1) });

function node(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) el.append(child);
  return el;
}

// ---- session --------------------------------------------------------------------------------

async function boot() {
  applyStatic(document);
  $("lang-switch").addEventListener("click", () => {
    setLang(lang() === "zh-CN" ? "en" : "zh-CN");
    renderAll();
  });
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("alarm-mute").addEventListener("click", toggleMute);
  $("alarm-enable").addEventListener("click", () => unlockAudio().then(updateAlarm));
  $("call-dismiss").addEventListener("click", () => showCall(null));
  $("call-open").addEventListener("click", () => state.call?.incident_id && select(state.call.incident_id));
  for (const id of ["filter-state", "filter-priority", "filter-area"]) $(id).addEventListener("change", renderQueue);
  try {
    state.config = (await api("GET", "/api/v1/console/config")).body;
  } catch {
    /* defaults stand */
  }
  try {
    const me = (await api("GET", "/api/v1/console/session")).body;
    await start(me);
  } catch {
    showSignIn();
  }
  setInterval(tick, 1000);
}

function showSignIn() {
  $("signin-view").hidden = false;
  $("console-view").hidden = true;
  $("sign-out").hidden = true;
  $("whoami").textContent = "";
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  // The click that submits is the user gesture the browser's autoplay rules ask for.
  await unlockAudio();
  const token = new FormData(event.target).get("token");
  try {
    const me = (await api("POST", "/api/v1/console/session", { token })).body;
    event.target.reset();
    $("signin-error").textContent = "";
    await start(me);
  } catch (err) {
    $("signin-error").textContent = t("signin.failed", { detail: err.detail || err.message });
  }
}

async function signOut() {
  for (const stream of state.streams) stream.close();
  state.streams = [];
  await api("DELETE", "/api/v1/console/session").catch(() => {});
  state.me = null;
  state.rows.clear();
  state.selected = null;
  setCsrf(null);
  stopSound();
  showSignIn();
}

async function start(me) {
  state.me = me;
  setCsrf(me.csrf_token);
  $("signin-view").hidden = true;
  $("console-view").hidden = false;
  $("sign-out").hidden = false;
  await loadQueue();
  connect();
  renderAll();
}

// ---- queue and live stream ----------------------------------------------------------------

async function loadQueue() {
  const { body, headers } = await api("GET", "/api/v1/console/queue?status=active");
  state.rows = new Map(body.map((row) => [row.id, row]));
  // Resume the stream from the newest entry the queue already reflects: nothing in between is lost.
  const last = headers.get("X-Last-Event-ID");
  if (last !== null && state.lastEventId === null) state.lastEventId = last;
}

function setStreamState(live) {
  const el = $("stream-state");
  el.dataset.streamState = live ? "live" : "down";
  el.textContent = t(live ? "stream.live" : "stream.down");
}

// EventSource reconnects by itself with Last-Event-ID; when it gives up (an HTTP error while
// dispatch restarts) a new one is opened with ?last_event_id=, so nothing in between is missed.
function follow(path, names, onEvent, cursorKey, shows) {
  let source = null;
  let delay = 500;
  const handle = {
    close() {
      handle.closed = true;
      source?.close();
    },
  };
  const open = () => {
    if (handle.closed) return;
    const cursor = state[cursorKey];
    source = new EventSource(cursor ? `${path}?last_event_id=${encodeURIComponent(cursor)}` : path);
    source.onopen = () => {
      delay = 500;
      if (shows) setStreamState(true);
    };
    source.onerror = () => {
      if (shows) setStreamState(false);
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 5000);
      }
    };
    for (const name of names) {
      source.addEventListener(name, (message) => {
        if (message.lastEventId) state[cursorKey] = message.lastEventId;
        onEvent(name, JSON.parse(message.data));
      });
    }
  };
  open();
  return handle;
}

function connect() {
  for (const stream of state.streams) stream.close();
  const kinds = ["incident_opened", "state_change", "escalation", "assignment", "command", "timeline"];
  state.streams = [
    follow("/api/v1/incidents/stream", kinds, onIncidentEvent, "lastEventId", true),
    follow("/api/v1/calls/stream", ["call"], onCallEvent, "lastCallId", false),
  ];
}

async function onIncidentEvent(_name, data) {
  const id = data.incident_id;
  const incident = data.incident || {};
  const row = state.rows.get(id);
  if (!ACTIVE.includes(incident.status)) {
    state.rows.delete(id);
  } else if (row) {
    row.status = incident.status;
    row.priority = incident.priority;
  } else {
    try {
      const fresh = (await api("GET", `/api/v1/console/queue/${encodeURIComponent(id)}`)).body;
      if (ACTIVE.includes(fresh.status)) state.rows.set(id, fresh);
    } catch {
      /* gone or not visible: leave it out */
    }
  }
  renderQueue();
  if (state.selected === id) scheduleDetail();
}

function filtered() {
  const wantState = $("filter-state").value;
  const wantPriority = $("filter-priority").value;
  const wantArea = $("filter-area").value;
  return [...state.rows.values()]
    .filter((r) => (!wantState || r.status === wantState) && (!wantPriority || r.priority === wantPriority))
    .filter((r) => !wantArea || (r.area || "") === wantArea)
    .sort((a, b) => a.priority.localeCompare(b.priority) || a.opened_at.localeCompare(b.opened_at));
}

function fillSelect(select, values, labelOf) {
  const keep = select.value;
  select.replaceChildren(node("option", { value: "", text: t("filter.all") }));
  for (const value of values) select.append(node("option", { value, text: labelOf(value) }));
  select.value = values.includes(keep) ? keep : "";
}

function renderFilters() {
  fillSelect($("filter-state"), ACTIVE, (v) => label("state", v));
  fillSelect($("filter-priority"), PRIORITIES, (v) => label("priority", v));
  const areas = [...new Set([...state.rows.values()].map((r) => r.area).filter(Boolean))].sort();
  fillSelect($("filter-area"), areas, (v) => v);
}

function renderQueue() {
  if (!state.me) return;
  renderFilters();
  const rows = filtered();
  const body = $("queue-rows");
  body.replaceChildren(
    ...rows.map((r) =>
      node(
        "tr",
        {
          "data-incident-id": r.id,
          "data-priority": r.priority,
          "data-state": r.status,
          tabindex: 0,
          "aria-selected": String(r.id === state.selected),
          onclick: () => select(r.id),
          onkeydown: (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), select(r.id)),
        },
        node("td", {}, node("span", { class: `badge ${r.priority}`, text: label("priority", r.priority) })),
        node("td", { text: label("kind", r.kind) }),
        node("td", { class: "who", text: r.elder_name || r.device_id }),
        node("td", { text: label("state", r.status) }),
        node("td", { text: r.area || "" }),
        node("td", { text: fmtTime(r.opened_at) }),
        node("td", { class: "age", "data-since": r.opened_at, text: fmtAge(r.opened_at) }),
      ),
    ),
  );
  $("queue-empty").hidden = rows.length > 0;
  $("queue-count").textContent = t("queue.count", { n: rows.length });
  updateAlarm();
}

function tick() {
  for (const cell of document.querySelectorAll("td.age")) cell.textContent = fmtAge(cell.dataset.since);
  updateAlarm();
}

// ---- the alarm ------------------------------------------------------------------------------

async function unlockAudio() {
  const audio = $("alarm-sound");
  try {
    audio.muted = true;
    await audio.play();
    audio.pause();
    audio.currentTime = 0;
    audio.muted = false;
    state.audioUnlocked = true;
  } catch {
    state.audioUnlocked = false;
  }
}

function stopSound() {
  const audio = $("alarm-sound");
  audio.pause();
  audio.currentTime = 0;
}

function toggleMute() {
  state.mutedUntil = state.mutedUntil > Date.now() ? 0 : Date.now() + state.config.mute_seconds * 1000;
  updateAlarm();
}

function updateAlarm() {
  const alarm = $("alarm");
  const unacknowledged = [...state.rows.values()].some((r) => r.priority === "P1" && r.status === "open");
  const muted = state.mutedUntil > Date.now();
  const sounding = Boolean(state.me) && unacknowledged && !muted;
  alarm.dataset.alarmState = sounding ? "sounding" : "silent";
  alarm.dataset.muted = String(muted);
  $("alarm-text").textContent = unacknowledged ? t("alarm.sounding") : t("alarm.silent");
  const mute = $("alarm-mute");
  mute.hidden = !unacknowledged && !muted;
  mute.textContent = muted
    ? `${t("alarm.muted_until", { time: fmtTime(new Date(state.mutedUntil).toISOString()).slice(-8) })} · ${t("alarm.unmute")}`
    : t("alarm.mute", { minutes: Math.round(state.config.mute_seconds / 60) });
  const audio = $("alarm-sound");
  $("alarm-enable").hidden = !sounding || state.audioUnlocked;
  if (sounding && audio.paused && state.audioUnlocked) audio.play().catch(() => (state.audioUnlocked = false));
  if (!sounding && !audio.paused) stopSound();
}

// ---- incident view --------------------------------------------------------------------------

let detailTimer = null;
function scheduleDetail() {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(renderDetail, 150);
}

async function select(id) {
  state.selected = id;
  renderQueue();
  await renderDetail();
  $("incident").focus({ preventScroll: true });
}

async function renderDetail() {
  const id = state.selected;
  const body = $("incident-body");
  $("incident-none").hidden = Boolean(id);
  body.hidden = !id;
  if (!id) return;
  const path = `/api/v1/incidents/${encodeURIComponent(id)}`;
  const get = (p) => api("GET", p).then((r) => r.body).catch((err) => ({ error: err }));
  const [incident, device, candidates, assignments] = await Promise.all([
    get(path),
    get(`/api/v1/console/incidents/${encodeURIComponent(id)}/device`),
    get(`${path}/candidates`),
    get(`${path}/assignments`),
  ]);
  if (state.selected !== id) return;
  if (incident.error) {
    body.replaceChildren(node("p", { class: "error", role: "alert", text: incident.error.detail }));
    return;
  }
  // Candidates say how far, not where; assignments name nobody: the registry has both.
  const wanted = new Set([
    ...(candidates.candidates || []).slice(0, 8).map((c) => c.responder_id),
    ...(Array.isArray(assignments) ? assignments.map((a) => a.responder_id) : []),
  ]);
  wanted.delete(null);
  const responders = (await Promise.all([...wanted].map((rid) => get(`/api/v1/responders/${encodeURIComponent(rid)}`))))
    .filter((r) => r && !r.error);
  const names = new Map(responders.map((r) => [r.id, r.name]));
  // A re-render (the stream reports a change) must not eat what the dispatcher is typing.
  const typed = body.dataset.incidentId === id
    ? [...body.querySelectorAll("input[id], textarea[id], select[id]")].map((el) => [el.id, el.type === "radio" ? el.checked : el.value])
    : [];
  const focused = document.activeElement?.id;
  body.replaceChildren(
    summarySection(incident),
    elderSection(incident),
    whySection(incident),
    deviceSection(device),
    mapSection(incident, candidates, responders),
    actionsSection(incident, candidates, assignments, names),
    timelineSection(incident),
  );
  showFeedback();
  for (const [elId, value] of typed) {
    const el = document.getElementById(elId);
    if (!el) continue;
    if (el.type === "radio") el.checked = value;
    else el.value = value;
  }
  if (focused && body.contains(document.getElementById(focused))) document.getElementById(focused).focus();
  body.dataset.incidentId = id;
  body.dataset.state = incident.status;
}

// The outcome of the last action, kept in state: the view is re-rendered whenever the stream
// reports a change, and a refusal must stay on screen until the dispatcher does something else.
function tell(incidentId, kind, text) {
  state.feedback = { incidentId, kind, text };
  showFeedback();
}

function showFeedback() {
  const el = document.querySelector("#incident-body .feedback");
  const shown = state.feedback && state.feedback.incidentId === state.selected ? state.feedback : { kind: "", text: "" };
  if (!el) return;
  el.className = shown.kind ? `feedback ${shown.kind}` : "feedback";
  el.textContent = shown.text;
}

function dl(pairs) {
  return node("dl", {}, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").flatMap(([k, v]) => [
    node("dt", { text: t(k) }),
    node("dd", {}, v),
  ]));
}

function summarySection(incident) {
  return node(
    "div",
    {},
    node("p", {}, node("span", { class: `badge ${incident.priority}`, text: label("priority", incident.priority) }), " ",
      node("strong", { text: `${label("kind", incident.kind)} · ${label("state", incident.status)}` })),
    dl([
      ["incident.id", incident.id],
      ["incident.opened", fmtTime(incident.opened_at)],
      ["incident.alarms", String(incident.alarm_count)],
      ["incident.acknowledged_by", incident.acknowledged_by],
      ["incident.outcome", incident.outcome ? label("outcome", incident.outcome) : null],
    ]),
  );
}

function elderSection(incident) {
  const e = incident.elder;
  const heading = node("h3", { text: t("elder.heading") });
  if (!e) return node("section", { "data-section": "elder" }, heading, node("p", { class: "muted", text: t(incident.elder_id ? "elder.hidden" : "elder.unknown") }));
  const contacts = node("ol", {}, (e.contacts || []).map((c) =>
    node("li", { text: `${c.name}（${c.relation}）${c.phone}${c.has_key ? ` · ${t("elder.has_key")}` : ""}` })));
  return node(
    "section",
    { "data-section": "elder", "data-elder-id": e.elder_id },
    heading,
    dl([
      ["elder.name", node("strong", { class: "elder-name", text: e.name })],
      ["elder.age", e.age !== null ? t("elder.age_value", { n: e.age }) : null],
      ["elder.sex", label("sex", e.sex)],
      ["elder.living", label("living", e.living_situation)],
      ["elder.ability", e.ability_level !== null ? label("ability", e.ability_level) : null],
      ["elder.conditions", (e.conditions || []).join("、")],
      ["elder.medications", (e.medications || []).join("、")],
      ["elder.allergies", (e.allergies || []).join("、")],
      ["elder.phone", e.phone],
      ["elder.address", e.home_address],
    ]),
    node("h3", { text: t("elder.contacts") }),
    contacts,
  );
}

function whySection(incident) {
  return node("section", { "data-section": "why" }, node("h3", { text: t("why.heading") }),
    node("ul", {}, (incident.priority_reasons || []).map((r) => node("li", { text: reason(r) }))));
}

function deviceSection(device) {
  if (device.error) return node("section", { "data-section": "device" });
  return node("section", { "data-section": "device" }, node("h3", { text: t("device.heading") }), dl([
    ["device.id", device.device_id],
    ["device.battery", device.battery !== null ? `${device.battery}%` : null],
    ["device.last_contact", `${fmtTime(device.last_contact_at)}（${t(`device.via.${device.last_contact}`)}）`],
    ["device.sim", device.sim_number],
  ]));
}

function mapSection(incident, candidates, responders) {
  const points = [];
  const at = incident.last_location || incident.location;
  if (at) points.push({ ...at, kind: "incident", label: t("map.incident") });
  const home = incident.elder?.home_location;
  if (home) points.push({ ...home, kind: "home", label: t("map.home") });
  for (const r of responders) {
    const where = r.location || r.base;
    if (where) points.push({ ...where, kind: "responder", label: r.name });
  }
  if (!at && !home && candidates.origin) points.unshift({ ...candidates.origin, kind: "incident", label: t("map.incident") });
  const holder = node("div", { class: "map-holder" });
  const section = node("section", { "data-section": "map" }, node("h3", { text: t("map.heading") }), holder);
  if (points.length === 0) holder.append(node("p", { class: "muted", text: t("map.no_location") }));
  else drawMap(holder, points, { tileUrl: state.config.tile_url, km, title: t("map.heading") });
  return section;
}

function actionsSection(incident, candidates, assignments, names) {
  const id = incident.id;
  const feedback = node("p", { class: "feedback", role: "alert", "aria-live": "assertive" });
  const path = `/api/v1/incidents/${encodeURIComponent(id)}`;
  const run = async (action, method, url, body) => {
    tell(id, "", "");
    try {
      await api(method, url, body);
      for (const el of [note, commandText, resolveNote, cancelReason]) el.value = "";
      tell(id, "done", t("action.done", { action: t(`action.${action}`) }));
      await renderDetail();
    } catch (err) {
      const text =
        err instanceof ApiError && err.status
          ? t("action.refused", { status: err.status, detail: err.detail })
          : t("action.failed", { detail: err.message });
      tell(id, "refused", text);
    }
  };
  const field = (id, key, control) => [node("label", { for: id, text: t(key) }), control];
  const select = (id, values, prefix) => node("select", { id }, values.map((v) => node("option", { value: v, text: label(prefix, v) })));

  const ack = node("button", { type: "button", "data-action": "acknowledge", text: t("action.acknowledge"),
    onclick: () => run("acknowledge", "POST", `${path}/acknowledge`) });

  const options = [...(candidates.candidates || []), ...(candidates.ambulance?.responder_id ? [candidates.ambulance] : [])];
  const list = node("ul", { class: "candidates" }, options.length === 0 ? node("li", { class: "muted", text: t("assign.none") }) :
    options.map((c, i) => {
      const inputId = `candidate-${i}`;
      const skills = (c.skills || []).map((s) => label("skill", s)).join("、") || "—";
      const distance = c.distance_km !== null ? km(c.distance_km) : "—";
      return node("li", { "data-candidate": c.responder_id },
        node("input", { type: "radio", name: "candidate", id: inputId, value: c.responder_id }),
        node("label", { for: inputId, text: `${c.name} · ${label("responder", c.kind)} · ${t("assign.distance")} ${distance} · ${t("assign.skills")} ${skills}` }));
    }));
  const assign = node("button", { type: "button", "data-action": "assign", text: t("action.assign"), onclick: () => {
    const picked = list.querySelector("input[name=candidate]:checked");
    if (!picked) {
      tell(id, "refused", t("assign.pick"));
      return;
    }
    run("assign", "POST", `${path}/assign`, { responder_id: picked.value });
  } });
  const assigned = Array.isArray(assignments) && assignments.length
    ? node("ul", {}, assignments.map((a) => node("li", { "data-assignment": a.id, text: `${names.get(a.responder_id) || a.responder_id} · ${label("assignment", a.state)}` })))
    : null;

  const note = node("textarea", { id: "note-text", maxlength: 4000 });
  const noteBtn = node("button", { type: "button", "data-action": "note", text: t("action.note"),
    onclick: () => note.value.trim() && run("note", "POST", `${path}/notes`, { text: note.value.trim() }) });

  const commandType = select("command-type", ["locate", "message", "call_back"], "command");
  const commandText = node("input", { id: "command-text", maxlength: 500 });
  const commandNumber = node("input", { id: "command-number", value: "12349", maxlength: 32, inputmode: "tel" });
  const commandBtn = node("button", { type: "button", "data-action": "command", text: t("action.command"), onclick: () => {
    const type = commandType.value;
    const body = { type };
    if (type === "message") body.text = commandText.value.trim() || null;
    if (type === "call_back") body.callback_number = commandNumber.value.trim() || null;
    run("command", "POST", `${path}/commands`, body);
  } });

  const outcome = select("resolve-outcome", ["handled", "false_alarm", "hospital", "other"], "outcome");
  const resolveNote = node("input", { id: "resolve-note", maxlength: 4000 });
  const resolveBtn = node("button", { type: "button", "data-action": "resolve", text: t("action.resolve"),
    onclick: () => run("resolve", "POST", `${path}/resolve`, { outcome: outcome.value, note: resolveNote.value.trim() || null }) });

  const cancelReason = node("input", { id: "cancel-reason", maxlength: 1000 });
  const cancelBtn = node("button", { type: "button", "data-action": "cancel", text: t("action.cancel"),
    onclick: () => run("cancel", "POST", `${path}/cancel`, { reason: cancelReason.value.trim() }) });

  return node(
    "section",
    { "data-section": "actions", class: "actions" },
    node("h3", { text: t("actions.heading") }),
    feedback,
    node("fieldset", {}, ack),
    node("fieldset", {}, node("legend", { text: t("assign.heading") }), list, assign, assigned ? node("div", {}, node("strong", { text: t("assign.list") }), assigned) : null),
    node("fieldset", {}, ...field("note-text", "note.label", note), noteBtn),
    node("fieldset", {}, ...field("command-type", "command.type", commandType), ...field("command-text", "command.text", commandText),
      ...field("command-number", "command.number", commandNumber), commandBtn),
    node("fieldset", {}, ...field("resolve-outcome", "resolve.outcome", outcome), ...field("resolve-note", "resolve.note", resolveNote), resolveBtn),
    node("fieldset", {}, ...field("cancel-reason", "cancel.reason", cancelReason), cancelBtn),
  );
}

function entryText(entry) {
  const d = entry.detail || {};
  const bits = [label("entry", entry.action)];
  if (entry.to_status && entry.to_status !== entry.from_status) bits.push(`→ ${label("state", entry.to_status)}`);
  if (d.text) bits.push(`“${d.text}”`);
  if (d.note) bits.push(`“${d.note}”`);
  if (d.reason) bits.push(`“${d.reason}”`);
  if (d.outcome) bits.push(label("outcome", d.outcome));
  if (d.caller) bits.push(d.caller);
  if (d.caller_label) bits.push(d.caller_label);
  return bits.join(" ");
}

function timelineSection(incident) {
  return node("section", { "data-section": "timeline" }, node("h3", { text: t("timeline.heading") }),
    node("ol", { class: "timeline" }, [...incident.timeline].reverse().map((e) =>
      node("li", { "data-action-entry": e.action },
        node("time", { datetime: e.at, text: fmtTime(e.at) }), " ", node("span", { class: "muted", text: e.actor }), " ", entryText(e)))));
}

// ---- calls ----------------------------------------------------------------------------------

function onCallEvent(_name, call) {
  // A call ringing at this agent, or at the line before an agent has it, pops up; others do not.
  if (call.agent && state.me && call.agent !== state.me.name) return;
  if (call.event === "ended") {
    if (state.call?.call_id === call.call_id) showCall({ ...call });
    return;
  }
  showCall(call);
  if (call.event === "ringing" && call.incident_id) select(call.incident_id);
}

function showCall(call) {
  state.call = call;
  const pop = $("call-pop");
  pop.hidden = !call;
  if (!call) return;
  pop.dataset.callId = call.call_id;
  pop.dataset.callState = call.event || call.state;
  pop.dataset.elderId = call.elder_id || "";
  const who = call.match_kind ? t(`call.matched.${call.match_kind}`, { label: call.caller_label || "" }) : t("call.unknown");
  const lines = [
    node("p", { text: t("call.from", { number: call.caller }) }),
    node("p", { class: "call-elder" }, node("strong", { text: call.elder_name || "" })),
    node("p", { text: who }),
  ];
  if (call.elder_id && !call.incident_id) lines.push(node("p", { class: "muted", text: t("call.no_incident") }));
  $("call-body").replaceChildren(...lines);
  $("call-open").hidden = !call.incident_id;
}

// ---- everything -----------------------------------------------------------------------------

function renderAll() {
  applyStatic(document);
  if (state.me) {
    $("whoami").textContent = t("signed_in_as", { name: state.me.name, role: label("role", state.me.role) });
    setStreamState($("stream-state").dataset.streamState === "live");
  }
  renderQueue();
  if (state.selected) renderDetail();
  if (state.call) showCall(state.call);
}

boot();
