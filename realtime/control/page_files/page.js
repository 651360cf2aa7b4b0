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
const NUDGE = 0.05;  // keyframe units per Nudge tap, as the stage's arrow keys
const CLEAR_ARM_MS = 3000;

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
    else if (m.type === "event") toast(eventWords(m.name, m.args), "info");
  };
}

// What the show's events say to the operator; any other event: its name and arguments.
const EVENT_WORDS = {
  "keyframe/added": (a) => `keyframe ${a[0]} added`,
  "keyframe/restored": (a) => `${a[1]} keyframe${a[1] === "1" ? "" : "s"} put back at ${a[0]}`,
  "snapshot/saved": (a) => `snapshot saved: ${a[0]}`,
  "record/started": (a) => `recording to ${a[0]}`,
  "record/stopped": (a) => a[0] ? `recording saved: ${a[0]}` : "recording stopped",
  "preset/saved": (a) => `preset saved: ${a[0]}`,
};

function eventWords(name, args) {
  const words = EVENT_WORDS[name];
  return words ? words(args) : name.replace("/", " ") + (args.length ? ": " + args.join(" ") : "");
}

// An integration's command, by its OSC address (the page's "hello" lists those this build has).
function sendOsc(address, args) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ osc: address, args }));
  else toast("not connected to the show");
}
function canSend(address) { return Boolean(hello && hello.addresses && hello.addresses[address]); }

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
  const bpm = arg("SetBpm", "bpm");
  Object.assign($("#bpm"), { min: bpm.lo, max: bpm.hi });
  $("#output-add").hidden = !canSend("/stylevj/output/add");
  if (table) buildParams();  // again: the learn buttons come with the hello
  if (canSend("/stylevj/midi/learn")) {  // the triggers a note or button can fire, beside their buttons
    for (const [button, trigger] of [["#tap", "tap"], ["#snapshot", "snapshot"], ["#record", "record"]]) {
      if (!document.querySelector(`button.learn[data-learn="${trigger}"]`)) $(button).after(learnButton(trigger));
    }
  }
  errorsSeen = null;  // a (re)connect: the errors already listed are not news
  render(Object.keys(state));
}

// ---- the parameter table's knobs (GET /api/params): one control per entry ------------------------

// Where a knob goes is the only thing said here: the stage's own (the fader, blackout) in the bar
// that stays on screen, every other knob in "Transport and look", in the table's order.
const STAGE_BAR = ["fader", "blackout"];
const BEAT = ["clock", "tempo"];  // the beat clock's knobs: in the Beat section, beside tap and nudge
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

let chosenKnob = null;  // the knob touched last: key L arms MIDI learn for it

function buildParams() {
  $("#params").textContent = "";
  $("#stage-bar").textContent = "";
  $("#beat-params").textContent = "";
  const learning = canSend("/stylevj/midi/learn");
  for (const p of table) {
    const staged = STAGE_BAR.includes(p.name);
    const box = staged ? $("#stage-bar") : BEAT.includes(p.name) ? $("#beat-params") : $("#params");
    const el = p.type === "bool" ? (staged ? stageButton(p) : toggle(p)) : p.type === "choice" ? menu(p)
      : p.min === null || p.max === null ? numberOnly(p) : slider(p);
    el.dataset.param = p.name;
    el.title = p.doc + (p.unit ? " (" + p.unit + ")" : "") + " · OSC " + p.osc;
    if (p.needs) { el.dataset.needs = p.needs; el.dataset.requirement = p.requirement || p.needs; }
    const choose = () => {
      chosenKnob = p.name;
      document.querySelectorAll("[data-param].chosen").forEach((other) => other.classList.remove("chosen"));
      el.classList.add("chosen");
    };
    el.addEventListener("pointerdown", choose, true);
    el.addEventListener("focusin", choose);
    if (learning && p.learnable) {
      const learn = learnButton(p.name);
      if (el.classList.contains("slider")) { el.classList.add("with-learn"); el.appendChild(learn); }
      else {  // beside a checkbox's or menu's label, never inside it (a tap there would toggle the box)
        const pair = document.createElement("span");
        pair.className = "pair";
        pair.append(el, learn);
        box.appendChild(pair);
        continue;
      }
    }
    box.appendChild(el);
  }
  renderParams();
  renderNeeds();
  renderMidi();
}

function learnButton(name) {  // arms MIDI learn: the next control moved on a controller drives this knob
  const button = document.createElement("button");
  button.className = "learn";
  button.textContent = "learn";
  button.dataset.learn = name;
  button.title = "MIDI learn: then move a knob, fader or key on the controller";
  button.addEventListener("click", () => sendOsc("/stylevj/midi/learn", [name]));
  return button;
}

// Knobs the generator cannot act on (StyleGAN3's translate and rotate on a StyleGAN2 network) are
// hidden, and one line says what they need; until the state names the generator, all are shown.
function renderNeeds() {
  const features = state.generator && state.generator.features;
  const lacking = {};
  for (const el of document.querySelectorAll("[data-needs]")) {
    const missing = Array.isArray(features) && !features.includes(el.dataset.needs);
    (el.closest(".pair") || el).hidden = missing;
    if (missing) (lacking[el.dataset.requirement] = lacking[el.dataset.requirement] || []).push(el.dataset.param.replace(/_/g, " "));
  }
  const lines = Object.entries(lacking).map(([need, names]) => `${names.join(", ")}: ${names.length > 1 ? "need" : "needs"} ${need}`);
  $("#lacking").textContent = lines.join(" · ");
  $("#lacking").hidden = !lines.length;
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
  if (has("errors") || has("osc")) renderErrors();
  if (has("clock") || has("audio")) renderTempo();
  if (has("undo")) {
    $("#kf-undo").disabled = !state.undo;
    $("#kf-undo").textContent = state.undo ? `Undo remove (${state.undo})` : "Undo remove";
  }
  if (has("saved")) renderSaved();
  if (has("outputs")) renderOutputs();
  if (has("midi")) renderMidi();
  if (has("generator")) renderNeeds();
  renderStatus();
}

// ---- errors from anyone: this page, other pages, OSC senders, the show --------------------------

let errorsSeen = null;  // keys of the errors already shown; null: take what is listed now as seen

function allErrors() {  // the page server's list (the show's and the pages' refusals) and OSC's own
  const osc = state.osc && Array.isArray(state.osc.recent) ? state.osc.recent : [];
  return (state.errors || []).concat(osc).sort((a, b) => (a.at || 0) - (b.at || 0));
}

function renderErrors() {
  const errors = allErrors();
  const list = $("#errors");
  list.textContent = "";
  for (const e of errors.slice().reverse()) {
    const li = document.createElement("li");
    const when = e.at ? new Date(e.at * 1000).toLocaleTimeString() + " " : "";
    li.textContent = when + e.message + " (" + e.from + ")";
    list.appendChild(li);
  }
  $("#errors-title").hidden = !errors.length;
  const keys = errors.map((e) => e.from + "|" + e.serial + "|" + e.at);
  const fresh = errorsSeen === null ? [] : errors.filter((e, i) => !errorsSeen.has(keys[i]));
  errorsSeen = new Set(keys);
  // This page's own refusals arrive as its own messages (a toast already); the others' are news here.
  for (const e of fresh.slice(-3)) if (!String(e.from).startsWith("page")) toast(e.message + " (" + e.from + ")");
  const badge = $("#error-badge");
  const total = (state.commands ? state.commands.failed : 0) + (state.osc ? state.osc.refused : 0)
    + (state.page ? state.page.rejected : 0);
  badge.hidden = !total;
  badge.textContent = "⚠ " + total;
  badge.title = errors.length ? "latest: " + errors[errors.length - 1].message : "refused commands";
}

// ---- the beat: tempo, its source, Link peers, a dot on each beat ---------------------------------

let lastBeat = null;

function renderTempo() {
  const clock = state.clock, audio = state.audio;
  let bpm = null, words = "no tempo yet", beat = null;
  if (clock && typeof clock.bpm === "number" && !(clock.bpm > 0)) {
    words = `no tempo yet · ${clock.source || "?"}` + (clock.source === "link" ? ` · ${clock.peers || 0} Link peers` : "");
  } else if (clock && typeof clock.bpm === "number") {
    bpm = clock.bpm;
    beat = typeof clock.beat === "number" ? Math.floor(clock.beat) : null;
    words = `${bpm.toFixed(1)} BPM · ${clock.source || "?"}`
      + (clock.source === "link" || clock.peers ? ` · ${clock.peers || 0} Link peer${clock.peers === 1 ? "" : "s"}` : "");
  } else if (audio && audio.bpm) {
    bpm = audio.bpm;
    beat = audio.beat;
    words = `${bpm.toFixed(1)} BPM · ${audio.source ? "audio" : "tap"}`;
  }
  $("#tempo-words").textContent = words;
  const mini = $("#tempo-mini");
  mini.hidden = bpm === null;
  mini.querySelector(".bpm-text").textContent = bpm === null ? "" : bpm.toFixed(1);
  if (bpm !== null && !busy($("#bpm"))) $("#bpm").placeholder = bpm.toFixed(1);
  if (beat !== null && beat !== lastBeat) {
    if (lastBeat !== null) blink();
    lastBeat = beat;
  }
}

function blink() {  // the beat dots light for a moment on each new beat
  for (const dot of document.querySelectorAll(".beat-dot")) {
    dot.classList.remove("on");
    void dot.offsetWidth;  // restart the fade
    dot.classList.add("on");
  }
}

// ---- where files went ------------------------------------------------------------------------------

function renderSaved() {
  const saved = state.saved || {}, box = $("#saved");
  box.textContent = "";
  const recording = state.recording && state.recording.file;
  for (const [kind, label] of [["snapshot", "last snapshot"], ["recording", recording ? "recording to" : "last recording"],
                               ["preset", "last preset"]]) {
    if (!saved[kind]) continue;
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = saved[kind];
    dd.dataset.saved = kind;
    box.append(dt, dd);
  }
  box.hidden = !box.children.length;
}

// ---- frame outputs (NDI): each with what it sends, add and remove ----------------------------------

let outputsShape = "";

function renderOutputs() {
  const outputs = Array.isArray(state.outputs) ? state.outputs : [];
  const adding = canSend("/stylevj/output/add");
  $("#outputs-box").hidden = !outputs.length && !adding;
  const shape = JSON.stringify(outputs) + canSend("/stylevj/output/remove");
  if (shape === outputsShape) return;
  outputsShape = shape;
  const list = $("#outputs");
  list.textContent = "";
  for (const o of outputs) {
    const li = document.createElement("li");
    li.dataset.output = o.name;
    const size = Array.isArray(o.size) ? o.size.join("×") : o.size || "stage size";
    const text = document.createElement("span");
    const name = o.sent_as && o.sent_as !== o.name ? `${o.name} (sent as ${o.sent_as})` : o.name;
    text.textContent = `${name} · ${o.kind || "?"} · ${size}${o.clean ? " · clean" : ""} · `
      + `${typeof o.fps === "number" ? o.fps.toFixed(1) : "?"} fps · ${o.receivers ?? "?"} receiver${o.receivers === 1 ? "" : "s"}`
      + ` · ${o.dropped ?? 0} dropped` + (o.error ? " · " + o.error : "");
    li.appendChild(text);
    if (canSend("/stylevj/output/remove")) {
      const remove = document.createElement("button");
      remove.className = "danger";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => sendOsc("/stylevj/output/remove", [o.name]));
      li.appendChild(remove);
    }
    list.appendChild(li);
  }
}

// ---- MIDI: ports, learning, the mappings with forget ------------------------------------------------

let mappingsShape = "";

function renderMidi() {
  const midi = state.midi;
  // Learn buttons and the MIDI panel while a controller is connected (or mappings exist to forget).
  const live = Boolean(midi && ((midi.in && midi.in.length) || (midi.mappings && midi.mappings.length) || midi.learning));
  document.body.classList.toggle("midi", live);
  $("#midi-box").hidden = !live;
  for (const b of document.querySelectorAll("button.learn")) b.classList.toggle("on", Boolean(midi && midi.learning === b.dataset.learn));
  if (!midi) return;
  const ports = (name, list) => Array.isArray(list) && list.length ? `${name}: ${list.join(", ")}` : "";
  $("#midi-ports").textContent = [ports("in", midi.in), ports("out", midi.out), midi.problem || ""].filter(Boolean).join(" · ")
    || "no ports";
  const learning = $("#midi-learning");
  learning.hidden = !midi.learning;
  learning.textContent = midi.learning ? `learning ${midi.learning.replace(/_/g, " ")}: move a control on the controller` : "";
  const mappings = Array.isArray(midi.mappings) ? midi.mappings : [];
  const shape = JSON.stringify(mappings) + canSend("/stylevj/midi/forget");
  if (shape === mappingsShape) return;  // rebuilt only when the mappings change (a tap on Forget goes on)
  mappingsShape = shape;
  const list = $("#midi-mappings");
  list.textContent = "";
  for (const m of mappings) {
    const target = String(m.param ?? m.command ?? "?");
    const li = document.createElement("li");
    li.dataset.mapping = target;
    const text = document.createElement("span");
    text.textContent = `${target.replace(/_/g, " ")} ← ${m.kind || "cc"} ${m.number ?? ""} ch ${m.channel ?? "?"}`
      + (m.port ? ` (${m.port})` : "") + (m.mode ? ` · ${m.mode}` : "");
    li.appendChild(text);
    if (canSend("/stylevj/midi/forget")) {
      const forget = document.createElement("button");
      forget.textContent = "Forget";
      forget.addEventListener("click", () => sendOsc("/stylevj/midi/forget", [target]));
      li.appendChild(forget);
    }
    list.appendChild(li);
  }
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

let statusShape = "";

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
  if (s.osc) rows.push(["OSC", `${s.osc.received} received, ${s.osc.refused} refused` + (s.osc.blocked ? `, ${s.osc.blocked} blocked` : "")
                        + (s.osc.last ? ` (last: ${s.osc.last})` : "")]);
  if (s.telemetry) {
    for (const g of s.telemetry.gpus) rows.push(["GPU", `${g.name || "?"}: ${g.utilization ?? "?"} %, ${mb(g.memory_used)} of ${mb(g.memory_total)}`]);
    if (!s.telemetry.gpus.length && s.telemetry.gpu_reason) rows.push(["GPU", s.telemetry.gpu_reason]);
    const h = s.telemetry.host;
    rows.push(["memory", `${mb(h.memory_used)} of ${mb(h.memory_total)}, stylevj ${mb(h.process_rss)}`]);
  }
  if (s.page) rows.push(["pages", `${s.page.clients} open, ${s.page.refused} refused requests`]);
  const shape = JSON.stringify(rows);
  if (shape === statusShape) return;  // the state comes 30 times a second: redraw only what changed
  statusShape = shape;
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
$("#tap").addEventListener("click", () => send("Tap"));
$("#set-bpm").addEventListener("click", () => {
  const bpm = numberOf($("#bpm"));
  if (bpm === null) { toast("give a tempo in BPM"); return; }
  send("SetBpm", { bpm });
  $("#bpm").value = "";
});
$("#bpm").addEventListener("keydown", (e) => { if (e.key === "Enter") $("#set-bpm").click(); });
$("#nudge-back").addEventListener("click", () => send("Nudge", { amount: -NUDGE }));
$("#nudge-forward").addEventListener("click", () => send("Nudge", { amount: NUDGE }));
$("#kf-undo").addEventListener("click", () => send("UndoKeyframes"));
let clearArmed = null;  // Clear all takes two taps (within CLEAR_ARM_MS): one stray tap never empties the path
$("#kf-clear").addEventListener("click", () => {
  const button = $("#kf-clear");
  if (clearArmed === null) {
    button.textContent = "Tap again to clear";
    button.classList.add("on");
    clearArmed = setTimeout(() => { clearArmed = null; button.textContent = "Clear all"; button.classList.remove("on"); }, CLEAR_ARM_MS);
    return;
  }
  clearTimeout(clearArmed);
  clearArmed = null;
  button.textContent = "Clear all";
  button.classList.remove("on");
  send("ClearKeyframes");
});
$("#output-add-button").addEventListener("click", () => {
  const name = $("#output-name").value.trim(), size = $("#output-size").value.trim();
  if (!name) { toast("give the output a name"); return; }
  const args = [name];
  if (size || $("#output-clean").checked) args.push(size || "stage");  // "stage": the stage's own size
  if ($("#output-clean").checked) args.push(1);
  sendOsc("/stylevj/output/add", args);
});
document.addEventListener("keydown", (e) => {  // key L: MIDI learn for the knob touched last
  const typing = e.target instanceof HTMLInputElement && e.target.type !== "range" && e.target.type !== "checkbox"
    || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement;
  if (typing || e.ctrlKey || e.metaKey || e.altKey || (e.key !== "l" && e.key !== "L")) return;
  if (!canSend("/stylevj/midi/learn")) { toast("MIDI learn is not available in this show"); return; }
  if (!chosenKnob) { toast("touch a knob first, then press L to learn it"); return; }
  sendOsc("/stylevj/midi/learn", [chosenKnob]);
});
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
