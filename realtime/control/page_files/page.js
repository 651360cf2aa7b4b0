// The operator page: sends the show's commands over a WebSocket and shows the state it publishes.
// Its knobs are built from the parameter table it fetches (GET /api/params): one control per
// entry, each sending SetParam and showing the state's params.<name>; no knob, range or unit is
// written here. Other ranges and choices come from the server's "hello" (the commands' checked
// fields). The state arrives as the keys that changed; on (re)connect, all of it.
"use strict";

const $ = (selector) => document.querySelector(selector);
const token = new URLSearchParams(location.search).get("token");
const state = {};
let hello = null;
let table = null;  // GET /api/params: [{name, type, min, max, default, unit, doc, choices?}, ...]
let ws = null;
let selected = null;  // index of the selected keyframe
let drag = null;  // {from, card, target}
const HOLD_MS = 900;  // a control the user just touched is not overwritten by the state for this long

function send(command, args) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ command, args: args || {} }));
  else toast("not connected to the show");
}

function toast(text, kind) {
  const box = document.createElement("div");
  box.className = "toast" + (kind ? " " + kind : "");
  box.textContent = text;
  $("#toasts").appendChild(box);
  setTimeout(() => box.remove(), 6000);
}

function held(el) { return Date.now() < (Number(el.dataset.until) || 0); }
function busy(el) { return held(el) || document.activeElement === el; }  // typing in it, or just touched
let settle = null;
function touched(el) {  // and once the hold ends, the page shows the state again (what changed meanwhile)
  el.dataset.until = Date.now() + HOLD_MS;
  clearTimeout(settle);
  settle = setTimeout(() => render(Object.keys(state)), HOLD_MS + 50);
}

// ---- connection -------------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  ws = new WebSocket(scheme + location.host + "/ws" + (token ? "?token=" + encodeURIComponent(token) : ""));
  ws.binaryType = "blob";
  ws.onopen = () => $("#conn").classList.add("on");
  ws.onclose = () => { $("#conn").classList.remove("on"); setTimeout(connect, 1000); };
  ws.onmessage = (e) => {
    if (typeof e.data !== "string") { showPicture(e.data); return; }
    const m = JSON.parse(e.data);
    if (m.type === "hello") { hello = m; build(); }
    else if (m.type === "state") { Object.assign(state, m.state); render(Object.keys(m.state)); }
    else if (m.type === "error") toast(m.message);
    else if (m.type === "event") toast(m.name.replace("/", " ") + (m.args.length ? ": " + m.args.join(" ") : ""), "info");
  };
}

function showPicture(blob) {
  const img = $("#picture");
  const old = img.src;
  img.src = URL.createObjectURL(blob);
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

// ---- controls built from the commands' fields ---------------------------------------------------

function arg(command, name) { return hello.commands[command].args.find((a) => a.name === name); }

function build() {
  const seed = arg("AddSeedKeyframe", "seed"), psi = arg("AddSeedKeyframe", "truncation");
  Object.assign($("#seed"), { min: seed.lo, max: seed.hi });
  Object.assign($("#psi"), { min: psi.lo, max: psi.hi });
  render(Object.keys(state));
}

// ---- the parameter table's knobs (GET /api/params): one control per entry ------------------------

// Where a knob goes is the only thing said here: the stage's own (the fader, blackout) in the bar
// that stays on screen, every other knob in "Transport and look", in the table's order.
const STAGE_BAR = ["fader", "blackout"];
let tableFailures = 0;

function loadTable() {
  fetch("/api/params" + (token ? "?token=" + encodeURIComponent(token) : ""), { cache: "no-store" })
    .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then((answer) => { table = answer.params; buildParams(); render(Object.keys(state)); })
    .catch((e) => {
      if (tableFailures++ === 0) toast("cannot read the parameter table (" + e.message + "): trying again");
      setTimeout(loadTable, 2000);
    });
}

function paramValue(name) {  // the live value; a show that publishes no "params" yet: its older key
  return state.params && name in state.params ? state.params[name] : state[name];
}

function setParam(name, value) { send("SetParam", { name, value }); }

function buildParams() {
  $("#params").textContent = "";
  $("#stage-bar").textContent = "";
  for (const p of table) {
    const staged = STAGE_BAR.includes(p.name);
    const el = p.type === "bool" ? (staged ? stageButton(p) : toggle(p)) : p.type === "choice" ? menu(p)
      : p.min === null || p.max === null ? numberOnly(p) : slider(p);
    el.dataset.param = p.name;
    el.title = p.doc + (p.unit ? " (" + p.unit + ")" : "") + " · OSC " + p.osc;
    (staged ? $("#stage-bar") : $("#params")).appendChild(el);
  }
  renderParams();
}

function renderParams() {
  for (const el of document.querySelectorAll("[data-param]")) el._show(paramValue(el.dataset.param));
}

function nameOf(p) {  // "overlay_opacity" -> "overlay opacity", with its unit
  const label = document.createElement("label");
  label.textContent = p.name.replace(/_/g, " ");
  if (p.unit) {
    const unit = document.createElement("small");
    unit.className = "unit";
    unit.textContent = p.unit;
    label.append(" ", unit);
  }
  return label;
}

function numberBox(p) {
  const number = document.createElement("input");
  Object.assign(number, { type: "number", step: p.type === "int" ? 1 : "any", inputMode: p.type === "int" ? "numeric" : "decimal" });
  if (p.min !== null) number.min = p.min;
  if (p.max !== null) number.max = p.max;
  number.setAttribute("aria-label", p.name);
  return number;
}

function shown(p, v) { return p.type === "int" ? Math.round(v) : Number(Number(v).toPrecision(4)); }

// float/int -> a slider and its number box. A range around zero that spans 100 or more (speed)
// travels as a cube: fine control near zero, the whole range still reachable.
function slider(p) {
  const row = document.createElement("div");
  row.className = "slider param";
  const lo = p.min, hi = p.max;
  const curved = lo < 0 && hi > 0 && hi - lo >= 100;
  const top = Math.max(Math.abs(lo), Math.abs(hi));
  const range = document.createElement("input");
  Object.assign(range, { type: "range", min: curved ? -1 : lo, max: curved ? 1 : hi,
                         step: curved ? 0.001 : p.type === "int" ? 1 : (hi - lo) / 1000 });
  range.setAttribute("aria-label", p.name);
  const number = numberBox(p);
  const toValue = (t) => Math.min(hi, Math.max(lo, curved ? Math.sign(t) * Math.pow(Math.abs(t), 3) * top : t));
  const toTravel = (v) => curved ? Math.sign(v) * Math.cbrt(Math.abs(v) / top) : v;
  range.addEventListener("input", () => {
    touched(range);
    const v = shown(p, toValue(Number(range.value)));
    number.value = v;
    setParam(p.name, v);
  });
  number.addEventListener("change", () => {
    if (number.value.trim() === "") return;
    touched(range);
    range.value = toTravel(Number(number.value));
    setParam(p.name, Number(number.value));
  });
  row._show = (v) => {
    if (typeof v !== "number") return;
    if (!held(range)) range.value = toTravel(v);  // a slider keeps focus after a drag: only the hold counts
    if (!busy(number)) number.value = shown(p, v);
  };
  row.append(nameOf(p), range, number);
  return row;
}

function numberOnly(p) {  // an unbounded number: no slider can span it
  const row = document.createElement("div");
  row.className = "slider param";
  const number = numberBox(p);
  number.addEventListener("change", () => { if (number.value.trim() !== "") { touched(number); setParam(p.name, Number(number.value)); } });
  row._show = (v) => { if (typeof v === "number" && !busy(number)) number.value = shown(p, v); };
  row.append(nameOf(p), document.createElement("span"), number);
  return row;
}

function toggle(p) {  // bool -> a checkbox
  const label = nameOf(p);
  label.className = "toggle param";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.addEventListener("change", () => { touched(box); setParam(p.name, box.checked); });
  label.prepend(box, " ");
  label._show = (v) => { if (typeof v === "boolean" && !held(box)) box.checked = v; };
  return label;
}

function menu(p) {  // choice -> a menu of the table's choices
  const label = nameOf(p);
  label.className = "menu param";
  const select = document.createElement("select");
  for (const choice of p.choices) select.add(new Option(choice, choice));
  select.addEventListener("change", () => { touched(select); setParam(p.name, select.value); });
  label.append(" ", select);
  label._show = (v) => { if (v !== undefined && v !== null && !busy(select)) select.value = v; };
  return label;
}

function stageButton(p) {  // an on/off knob of the stage bar (blackout): one big button, lit while on
  const button = document.createElement("button");
  button.className = "stage-toggle";
  button.textContent = p.name.replace(/_/g, " ");
  button.setAttribute("aria-pressed", "false");
  const light = (on) => { button.classList.toggle("on", on); button.setAttribute("aria-pressed", String(on)); };
  button.addEventListener("click", () => {  // says the value it wants: two pages pressing at once agree
    const on = button.getAttribute("aria-pressed") !== "true";
    touched(button);
    light(on);
    setParam(p.name, on);
  });
  button._show = (v) => { if (typeof v === "boolean" && !held(button)) light(v); };
  return button;
}

// ---- the state on the page ----------------------------------------------------------------------

function render(keys) {
  if (!hello) return;
  const has = (k) => keys.includes(k);
  if (table && (has("params") || table.some((p) => has(p.name)))) renderParams();
  if (has("controls")) renderControls();
  if (has("audio") || has("drive")) renderMusic();
  if (has("keyframes") || has("pictures")) renderStrip();
  if (has("position") || has("keyframes") || has("params") || has("closed")) renderPosition();
  if (has("paused")) $("#play").textContent = state.paused ? "Play" : "Pause";
  if (has("files")) {
    fill($("#presets"), state.files.presets, "no presets in the folder");
    fill($("#kf-files"), state.files.keyframes, "no keyframe files in the folder");
  }
  if (has("recording")) {
    const on = Boolean(state.recording.file);
    $("#record").textContent = on ? "Stop recording" : "Record";
    $("#record").classList.toggle("on", on);
  }
  if (has("errors")) {
    const list = $("#errors");
    list.textContent = "";
    for (const e of state.errors.slice().reverse()) {
      const li = document.createElement("li");
      li.textContent = e.message + " (" + e.from + ")";
      list.appendChild(li);
    }
  }
  renderStatus();
}

// ---- the preset's controls (SetControl; each range comes with it in the state) and the music -----

let controlsShape = "";  // the names and ranges the rows were built for

function renderControls() {
  const controls = state.controls || {};
  const names = Object.keys(controls);
  const shape = JSON.stringify(names.map((n) => [n, controls[n].range]));
  const box = $("#controls");
  if (shape !== controlsShape) {
    controlsShape = shape;
    box.textContent = "";
    for (const name of names) box.appendChild(controlRow(name, controls[name]));
  }
  $("#controls-title").hidden = !names.length;
  for (const row of box.querySelectorAll(".slider")) row._show(controls[row.dataset.control]);
}

function controlRow(name, control) {
  const [lo, hi] = control.range;
  const row = document.createElement("div");
  row.className = "slider";
  row.dataset.control = name;
  const label = document.createElement("label");
  label.textContent = name;
  label.title = control.kind;
  const range = document.createElement("input");
  Object.assign(range, { type: "range", min: lo, max: hi, step: (hi - lo) / 1000 });
  range.dataset.control = name;
  const number = document.createElement("input");
  Object.assign(number, { type: "number", min: lo, max: hi, step: "any" });
  number.dataset.controlValue = name;
  range.addEventListener("input", () => {
    touched(range);
    const value = Number(Number(range.value).toPrecision(4));
    number.value = value;
    send("SetControl", { name, value });
  });
  number.addEventListener("change", () => {
    touched(range);
    range.value = number.value;
    send("SetControl", { name, value: Number(number.value) });
  });
  row._show = (c) => {
    if (!c) return;
    if (!held(range)) range.value = c.value;
    if (!busy(number)) number.value = Number(c.value.toPrecision(4));
    range.title = "now " + Number(c.current.toPrecision(4));
  };
  row.append(label, range, number);
  return row;
}

const FEATURES = ["level", "onset", "low", "mid", "high", "beat_phase"];  // the audio state's 0..1 features

function renderMusic() {
  const a = state.audio, d = state.drive;
  const box = $("#music");
  if (!a) { box.hidden = true; return; }
  const driven = d && (d.speed || d.truncation || d.segments !== null);
  box.hidden = !(a.source || a.problem || driven);
  $("#music-source").textContent = a.problem ? "no audio: " + a.problem : a.source;
  const meters = $("#meters");
  if (!meters.children.length) {
    for (const f of FEATURES) {
      const label = document.createElement("label");
      const meter = document.createElement("meter");
      Object.assign(meter, { min: 0, max: 1 });
      meter.dataset.audio = f;
      label.append(f.replace("_", " "), meter);
      meters.appendChild(label);
    }
  }
  for (const meter of meters.querySelectorAll("meter")) meter.value = a[meter.dataset.audio] || 0;
  const parts = [];
  if (a.bpm) parts.push(a.bpm.toFixed(1) + " bpm, beat " + a.beat);
  if (d) parts.push("drive: speed +" + d.speed.toFixed(3) + ", truncation " + (d.truncation >= 0 ? "+" : "") + d.truncation.toFixed(3)
                    + (d.segments !== null ? ", on the beat" : ""));
  $("#drive").textContent = parts.join(" · ");
}

function fill(select, names, empty) {
  const keep = select.value;
  select.textContent = "";
  if (!names.length) select.add(new Option(empty, ""));
  for (const name of names) select.add(new Option(name, name));
  if (names.includes(keep)) select.value = keep;
}

let stripShape = "";  // the names and sources the cards were built for

function pictureOf(kf) {
  return kf.picture !== null && kf.picture !== undefined && state.pictures ? state.pictures[kf.picture] || null : null;
}

function showPictures() {  // in place: a picture that arrives never rebuilds a card (a drag goes on)
  const cards = document.querySelectorAll(".kf");
  state.keyframes.forEach((kf, i) => {
    const img = cards[i] && cards[i].querySelector(".picture");
    const url = pictureOf(kf);
    if (!img) return;
    if (url && img.getAttribute("src") !== url) img.src = url;
    if (!url) img.removeAttribute("src");
    img.classList.toggle("pending", !url);
  });
}

function renderStrip() {
  const strip = $("#strip");
  const shape = JSON.stringify(state.keyframes.map((kf) => [kf.name, kf.source]));
  if (shape === stripShape && document.querySelectorAll(".kf").length === state.keyframes.length) { showPictures(); return; }
  stripShape = shape;
  strip.querySelectorAll(".kf").forEach((el) => el.remove());
  state.keyframes.forEach((kf, i) => {
    const card = document.createElement("div");
    card.className = "kf";
    card.dataset.index = i;
    const grip = document.createElement("span");
    grip.className = "grip";
    grip.title = "drag to reorder";
    grip.textContent = "⠿";
    const num = document.createElement("span");
    num.className = "num";
    num.textContent = i;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = kf.name;
    const source = document.createElement("small");
    source.textContent = kf.source;
    const picture = document.createElement("img");  // the keyframe's picture, once the show made it
    picture.className = "picture";
    picture.alt = "";
    const url = pictureOf(kf);
    if (url) picture.src = url; else picture.classList.add("pending");
    card.append(grip, num, name, picture, source);
    card.addEventListener("click", (e) => { if (e.target !== grip) { select(i); send("GotoKeyframe", { index: i }); } });
    grip.addEventListener("pointerdown", (e) => startDrag(e, i, card, grip));
    strip.insertBefore(card, $("#marker"));
  });
  if (selected !== null && selected >= state.keyframes.length) select(null);
  else if (selected !== null) select(selected);
}

function select(i) {
  selected = i;
  document.querySelectorAll(".kf").forEach((el) => el.classList.toggle("selected", Number(el.dataset.index) === i));
  $("#selected").hidden = i === null;
  if (i !== null && !busy($("#kf-name"))) $("#kf-name").value = state.keyframes[i].name;
}

function renderPosition() {
  const cards = document.querySelectorAll(".kf");
  const marker = $("#marker");
  const n = cards.length;
  $("#position").textContent = typeof state.position === "number" ? "position " + state.position.toFixed(2) : "";
  if (!n) { marker.hidden = true; return; }
  marker.hidden = false;
  let q = paramValue("closed") ? ((state.position % n) + n) % n : Math.min(Math.max(state.position, 0), n - 1);
  const i = Math.min(Math.floor(q), n - 1), f = q - i;
  const center = (k) => cards[k].offsetLeft + cards[k].offsetWidth / 2;
  const next = i + 1 < n ? center(i + 1) : center(i) + cards[i].offsetWidth;
  marker.style.left = (center(i) + f * (next - center(i))) + "px";
  const current = Math.round(q) % n;
  cards.forEach((el, k) => el.classList.toggle("current", k === current));
}

function renderStatus() {
  const s = state, rows = [];
  const mb = (b) => (b === null || b === undefined) ? "?" : (b / 2 ** 20).toFixed(0) + " MB";
  if (s.fps) {
    $("#rates").textContent = `${s.fps.generated} generated / ${s.fps.displayed} displayed fps`;
    rows.push(["frames/s", `${s.fps.generated} generated, ${s.fps.displayed} displayed`]);
  }
  if (s.frames) {
    rows.push(["frames", `${s.frames.shown} shown in ${s.frames.refreshes} refreshes`]);
    rows.push(["generator errors", s.frames.generator_errors + (s.frames.generator_error ? ": " + s.frames.generator_error : "")]);
  }
  if (s.recording) rows.push(["recording", s.recording.file ? `${s.recording.file} (${s.recording.dropped} dropped)` : "off"
                               + (s.recording.error ? " – " + s.recording.error : "")]);
  if (s.commands) rows.push(["commands", `${s.commands.applied} applied, ${s.commands.failed} failed, ${s.commands.dropped} dropped`]);
  if (s.telemetry) {
    for (const g of s.telemetry.gpus) rows.push(["GPU", `${g.name || "?"}: ${g.utilization ?? "?"} %, ${mb(g.memory_used)} of ${mb(g.memory_total)}`]);
    if (!s.telemetry.gpus.length && s.telemetry.gpu_reason) rows.push(["GPU", s.telemetry.gpu_reason]);
    const h = s.telemetry.host;
    rows.push(["memory", `${mb(h.memory_used)} of ${mb(h.memory_total)}, stylevj ${mb(h.process_rss)}`]);
  }
  if (s.page) rows.push(["pages", `${s.page.clients} open, ${s.page.refused} refused requests`]);
  const dl = $("#status");
  dl.textContent = "";
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = v;
    dl.append(dt, dd);
  }
}

// ---- drag to reorder (pointer events: mouse, pen and touch alike) -------------------------------

function startDrag(e, from, card, grip) {
  e.preventDefault();
  grip.setPointerCapture(e.pointerId);
  drag = { from, card, target: null };
  card.classList.add("dragging");
  const move = (ev) => {
    const under = document.elementFromPoint(ev.clientX, ev.clientY);
    const target = under && under.closest(".kf");
    document.querySelectorAll(".kf.target").forEach((el) => el.classList.remove("target"));
    drag.target = target && target !== card ? Number(target.dataset.index) : null;
    if (target && target !== card) target.classList.add("target");
  };
  const end = () => {
    grip.removeEventListener("pointermove", move);
    grip.removeEventListener("pointerup", end);
    grip.removeEventListener("pointercancel", end);
    document.querySelectorAll(".kf.target").forEach((el) => el.classList.remove("target"));
    card.classList.remove("dragging");
    if (drag.target !== null) send("MoveKeyframe", { index: drag.from, to: drag.target });
    drag = null;
  };
  grip.addEventListener("pointermove", move);
  grip.addEventListener("pointerup", end);
  grip.addEventListener("pointercancel", end);
}

// ---- buttons ------------------------------------------------------------------------------------

function numberOf(input) { return input.value.trim() === "" ? null : Number(input.value); }

$("#play").addEventListener("click", () => send(state.paused ? "Play" : "Pause"));
$("#add-seed").addEventListener("click", () => {
  const seed = numberOf($("#seed")), psi = numberOf($("#psi"));
  if (seed === null) { toast("give a seed"); return; }
  send("AddSeedKeyframe", psi === null ? { seed } : { seed, truncation: psi });
});
$("#add-current").addEventListener("click", () => send("AddCurrentKeyframe"));
$("#add-file").addEventListener("click", () => { if ($("#kf-files").value) send("AddFileKeyframe", { file: $("#kf-files").value }); });
$("#kf-rename").addEventListener("click", () => { if (selected !== null) send("RenameKeyframe", { index: selected, name: $("#kf-name").value }); });
$("#kf-remove").addEventListener("click", () => { if (selected !== null) send("RemoveKeyframe", { index: selected }); });
$("#load-preset").addEventListener("click", () => { if ($("#presets").value) send("LoadPreset", { name: $("#presets").value }); });
$("#save-preset").addEventListener("click", () => {
  const name = $("#preset-name").value.trim();
  if (!name) { toast("give the preset a name"); return; }
  send("SavePreset", { name });
});
$("#record").addEventListener("click", () => send(state.recording && state.recording.file ? "StopRecording" : "StartRecording"));
$("#snapshot").addEventListener("click", () => send("Snapshot"));
window.addEventListener("resize", renderPosition);

connect();
loadTable();

// The sticky stage bar must never hide what the page scrolls to (a tapped or focused control).
const keepClearOfHeader = () => {
  document.documentElement.style.scrollPaddingTop = `${document.querySelector("header").offsetHeight + 8}px`;
};
window.addEventListener("resize", keepClearOfHeader);
new ResizeObserver(keepClearOfHeader).observe(document.querySelector("header"));
keepClearOfHeader();
