// The nurse's kiosk: find or register the patient, measure with live progress, enter the
// waist, see the traffic light per condition, save. Plain ES modules, no build step, no CDN.
import { DEVICE_ERRORS_EN, LANGS, MESSAGES } from "./i18n.js";

const API = "/api/v1";
const ROLES = ["scale", "stadiometer", "bp", "glucometer"];
const ROLE_KINDS = {
  scale: ["body_weight"],
  stadiometer: ["body_height"],
  bp: ["systolic_pressure", "diastolic_pressure"],
  glucometer: ["glucose"],
  waist: ["waist_circumference"],
};
const UNITS = {
  body_weight: "kg",
  body_height: "cm",
  waist_circumference: "cm",
  systolic_pressure: "mm[Hg]",
  diastolic_pressure: "mm[Hg]",
  glucose: "mg/dL",
};
const SHOWN_UNITS = { "mm[Hg]": "mmHg", "/min": "lpm" };
const CONDITIONS = ["obesity", "hypertension", "diabetes"];
const LIGHT = {
  healthy: "green",
  known_controlled: "green",
  at_risk: "amber",
  probable_disease: "red",
  known_uncontrolled: "red",
  needs_evaluation: "red",
};
const SYMBOL = { green: "●", amber: "▲", red: "■", gray: "○" };
const GAUGE_MAX = 300;

const state = {
  lang: LANGS.includes(localStorage.getItem("mido.lang")) ? localStorage.getItem("mido.lang") : "es-MX",
  patient: null,
  screening: null,
  devices: [],
  cards: {}, // device id -> live state of this screening's run
  running: false,
  source: null,
  saving: false,
  view: "home",
  worklistFilter: "",
  user: null, // the signed-in nurse (GET /session)
  lockAfterMs: null, // the inactivity lock, from the service's settings
};
const CURP_ALPHABET = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ";

const $ = (id) => document.getElementById(id);

// ----------------------------------------------------------------------------- text

function t(key, vars = {}) {
  const table = MESSAGES[state.lang] || MESSAGES["es-MX"];
  let text = table[key] ?? MESSAGES["es-MX"][key] ?? key;
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

function applyI18n() {
  document.documentElement.lang = state.lang;
  document.title = t("app.title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  $("lang").setAttribute("lang", state.lang === "en" ? "es-MX" : "en");
  $("live").textContent = "";
  renderPatient();
  renderCards();
  renderResults();
  renderSync();
  renderUser();
}

// at most `decimals` digits after the point: counts, percentages and derived figures (BMI)
function fmt(value, decimals = 1) {
  if (value === null || value === undefined) return "—";
  const locale = state.lang === "en" ? "en-US" : "es-MX";
  return Number(value).toLocaleString(locale, { maximumFractionDigits: decimals });
}

// a measured value with exactly the digits its device (or the nurse) reported, `reported`
// (72.40 kg from a scale sending two decimals, 105 mg/dL); when that is not known (rows
// stored before precision was kept) at most `usual`, as fmt()
function fmtReported(value, reported, usual) {
  if (reported === null || reported === undefined || value === null || value === undefined) return fmt(value, usual);
  const locale = state.lang === "en" ? "en-US" : "es-MX";
  return Number(value).toLocaleString(locale, { minimumFractionDigits: reported, maximumFractionDigits: reported });
}

// a measurement from the API or an event (its `value` and `decimals`)
function fmtMeasurement(m, usual) {
  return fmtReported(m.value, m.decimals, usual);
}

function show(el, visible) {
  el.hidden = !visible;
}

function setError(el, text) {
  el.textContent = text || "";
  show(el, Boolean(text));
}

// ----------------------------------------------------------------------------- API

class ServiceDown extends Error {}

// what never resolves: the page is leaving for the sign-in screen, callers wait for nothing
const GONE = () => new Promise(() => {});

async function api(method, path, body) {
  if (leaving) return GONE();
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (leaving) return GONE();
    setError($("service-error"), t("service.down"));
    throw new ServiceDown(String(err));
  }
  if (leaving) return GONE(); // an answer that came back after the page was cleared
  setError($("service-error"), "");
  if (response.status === 401) {
    // the session ended (inactivity on the service, a restart): nothing more is shown
    leaveKiosk("expired");
    return GONE();
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (leaving) return GONE(); // the page was cleared while the body was read
  return { ok: response.ok, status: response.status, data };
}

// The nurse-facing text of an error answer: Spanish from the service, English by type.
function problemText(data) {
  const detail = data && data.detail;
  const item = Array.isArray(detail) ? detail[0] : detail;
  if (!item) return t("service.down");
  if (typeof item === "string") return state.lang === "en" ? item : t("service.failed");
  if (state.lang === "en") return item.msg || item.message || item.nurse_message;
  return item.nurse_message || fieldText(item) || t("service.failed");
}

// A validation item without a Spanish message (pydantic's own): worded by its field.
function fieldText(item) {
  const name = item.loc && item.loc[item.loc.length - 1];
  const key = `field.${name}`;
  return MESSAGES["es-MX"][key] ? t(key) : null;
}

function deviceErrorText(error, role) {
  if (state.lang !== "en") return error.nurse_message;
  const template = DEVICE_ERRORS_EN[error.type];
  if (!template) return error.message;
  const noun = t(`role.${role}`).toLowerCase();
  return template.replace(/^\{device\}/, `The ${noun}`).replaceAll("{device}", `the ${noun}`);
}

// ----------------------------------------------------------------------------- patient

function normaliseCurp(text) {
  return text.replace(/\s+/g, "").toUpperCase();
}

// The RENAPO check digit: caught before the nurse types the names.
function curpProblem(curp) {
  if (curp.length !== 18) return t("patient.curp.short", { n: curp.length });
  if (!/^[A-ZÑ]{4}\d{6}[HMX][A-ZÑ]{5}[0-9A-Z]\d$/.test(curp)) return t("patient.curp.format");
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += CURP_ALPHABET.indexOf(curp[i]) * (18 - i);
  if (String((10 - (sum % 10)) % 10) !== curp[17]) return t("patient.curp.digit");
  return null;
}

function curpFacts(curp) {
  const yy = Number(curp.slice(4, 6));
  const century = /\d/.test(curp[16]) ? 1900 : 2000;
  const birth = `${century + yy}-${curp.slice(6, 8)}-${curp.slice(8, 10)}`;
  const sex = { H: "male", M: "female" }[curp[10]] || null;
  return { birth: /^\d{4}-\d{2}-\d{2}$/.test(birth) ? birth : "", sex };
}

function ageOf(birth) {
  const [y, m, d] = birth.split("-").map(Number);
  const now = new Date();
  let age = now.getFullYear() - y;
  if (now.getMonth() + 1 < m || (now.getMonth() + 1 === m && now.getDate() < d)) age -= 1;
  return age;
}

function fieldError(name, text) {
  const input = document.querySelector(`#register-form [name="${name}"]`) || (name === "curp" ? $("curp") : null);
  const box = $(`${name}-error`) || $("register-error");
  setError(box, text);
  if (input) input.setAttribute("aria-invalid", text ? "true" : "false");
}

function clearRegisterErrors() {
  for (const name of ["curp", "given_name", "family_name", "birth_date", "sex"]) fieldError(name, "");
  setError($("register-error"), "");
}

async function findPatient(event) {
  event.preventDefault();
  clearRegisterErrors();
  const curp = normaliseCurp($("curp").value);
  $("curp").value = curp;
  const wrong = curpProblem(curp);
  if (wrong) {
    fieldError("curp", wrong);
    $("curp").focus();
    return;
  }
  const res = await api("GET", `/patients?curp=${encodeURIComponent(curp)}`);
  if (!res.ok) {
    fieldError("curp", problemText(res.data));
    return;
  }
  if (res.data.length) {
    setPatient(res.data[0]);
    return;
  }
  const facts = curpFacts(curp);
  $("register-note").textContent = t("patient.notfound");
  $("birth_date").value = facts.birth;
  for (const radio of document.querySelectorAll('#register-form [name="sex"]')) radio.checked = radio.value === facts.sex;
  show($("register-form"), true);
  $("given_name").focus();
}

async function registerPatient(event) {
  event.preventDefault();
  clearRegisterErrors();
  const form = $("register-form");
  const sex = form.querySelector('[name="sex"]:checked');
  const body = {
    curp: normaliseCurp($("curp").value),
    given_name: $("given_name").value.trim(),
    family_name: $("family_name").value.trim(),
    birth_date: $("birth_date").value,
    sex: sex ? sex.value : null,
  };
  const missing = [
    ["given_name", !body.given_name],
    ["family_name", !body.family_name],
    ["birth_date", !body.birth_date],
    ["sex", !body.sex],
  ].filter(([, empty]) => empty);
  if (missing.length) {
    for (const [name] of missing) fieldError(name, t(`field.${name}`));
    const first = missing[0][0];
    (first === "sex" ? form.querySelector('[name="sex"]') : $(first)).focus();
    return;
  }
  const res = await api("POST", "/patients", body);
  if (res.status === 201) {
    setPatient(res.data);
    return;
  }
  if (res.status === 409 && res.data.detail && res.data.detail.existing_id) {
    const existing = await api("GET", `/patients/${res.data.detail.existing_id}`);
    if (existing.ok) {
      setPatient(existing.data);
      $("patient-note").textContent = t("patient.exists");
      return;
    }
  }
  const items = Array.isArray(res.data && res.data.detail) ? res.data.detail : [];
  if (!items.length) {
    setError($("register-error"), problemText(res.data));
    return;
  }
  let first = null;
  for (const item of items) {
    const name = item.loc && item.loc[item.loc.length - 1];
    const known = ["curp", "given_name", "family_name", "birth_date", "sex"].includes(name);
    const text = state.lang === "en" ? `${name}: ${item.msg}` : item.nurse_message || fieldText(item) || t("service.failed");
    fieldError(known ? name : "register", text);
    if (known && !first) first = name;
  }
  const focus = first === "curp" ? $("curp") : first === "sex" ? form.querySelector('[name="sex"]') : first ? $(first) : null;
  if (focus) focus.focus();
}

function setPatient(patient) {
  state.patient = patient;
  $("patient-note").textContent = "";
  show($("patient-find"), false);
  show($("register-form"), false);
  show($("patient-card"), true);
  show($("options-form"), true);
  renderPatient();
  document.querySelector('#options-form [type="submit"]').focus();
}

function renderPatient() {
  const p = state.patient;
  if (!p) return;
  $("patient-name").textContent = `${p.given_name} ${p.family_name}`;
  const sex = t(p.sex === "female" ? "patient.sex.female" : "patient.sex.male");
  $("patient-meta").textContent = `${p.curp} · ${t("patient.age", { n: ageOf(p.birth_date) })} · ${sex}`;
}

// The screening lives in the URL: a reload or a restarted service comes back to it.
function showScreening() {
  show($("step-patient"), false);
  show($("step-measure"), true);
  show($("step-results"), true);
}

async function startScreening(event) {
  event.preventDefault();
  const form = $("options-form");
  const context = form.querySelector('[name="glucose_context"]:checked');
  const body = {
    patient_id: state.patient.id,
    glucose_context: context ? context.value : "casual",
    known_diagnoses: [...form.querySelectorAll('[name="known"]:checked')].map((c) => c.value),
  };
  const res = await api("POST", "/screenings", body);
  if (res.status !== 201) {
    setError($("options-error"), problemText(res.data));
    return;
  }
  setError($("options-error"), "");
  state.screening = res.data;
  state.cards = {};
  show($("options-form"), false);
  showScreening();
  go(`#/screenings/${res.data.id}`);
  await loadDevices();
  renderResults();
  $("measure").focus();
}

async function resumeScreening(id) {
  if (state.screening && state.screening.id === id) {
    showScreening(); // back from the history or the worklist to the patient on the kiosk
    return;
  }
  closeEvents();
  const res = await api("GET", `/screenings/${id}`);
  if (!res.ok || !res.data.patient) {
    resetAll();
    setError($("curp-error"), problemText(res.data));
    return;
  }
  state.screening = res.data;
  state.cards = {};
  state.running = false;
  setPatient(res.data.patient);
  show($("options-form"), false);
  showScreening();
  await loadDevices();
  renderResults();
  if (res.data.status === "measuring") {
    // the run still goes on: follow its log from the start
    state.running = true;
    renderCards();
    openEvents(`${API}/screenings/${id}/events`);
  }
  $("measure").focus();
}

// Leaving an open screening asks first and stops its run: a reading taken after this
// must never land in it (or in the next patient's).
async function leaveScreening() {
  const s = state.screening;
  if (s && s.status !== "completed") {
    const name = state.patient ? `${state.patient.given_name} ${state.patient.family_name}` : "";
    if (!(await confirmLeave(t("leave.text", { name })))) return false;
    closeEvents();
    try {
      await api("POST", `/screenings/${s.id}/measure/cancel`);
    } catch (err) {
      if (!(err instanceof ServiceDown)) throw err;
    }
  }
  return true;
}

function confirmLeave(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  dialog.showModal();
  $("confirm-stay").focus();
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-stay").onclick = null;
      $("confirm-leave").onclick = null;
      dialog.oncancel = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("confirm-stay").onclick = () => done(false);
    $("confirm-leave").onclick = () => done(true);
    dialog.oncancel = (e) => {
      e.preventDefault();
      done(false);
    };
  });
}

async function changePatient() {
  if (!(await leaveScreening())) return;
  resetAll();
  go("#/");
}

function resetAll() {
  closeEvents();
  state.patient = null;
  state.screening = null;
  state.cards = {};
  state.running = false;
  $("curp").value = "";
  for (const id of ["given_name", "family_name", "birth_date"]) $(id).value = "";
  for (const input of document.querySelectorAll("#options-form input[type=checkbox]")) input.checked = false;
  document.querySelector('#options-form [value="casual"]').checked = true;
  clearRegisterErrors();
  show($("step-patient"), true);
  show($("patient-find"), true);
  show($("register-form"), false);
  show($("patient-card"), false);
  $("name-results").replaceChildren();
  $("name-q").value = "";
  show($("options-form"), false);
  show($("step-measure"), false);
  show($("step-results"), false);
  show($("urgent"), false);
  $("saved").textContent = "";
  $("live").textContent = "";
  setError($("save-error"), "");
  setError($("measure-error"), "");
  $("curp").focus();
}

// ----------------------------------------------------------------------------- devices

async function loadDevices() {
  try {
    const res = await api("GET", "/devices");
    if (res.ok) state.devices = res.data;
  } catch (err) {
    if (!(err instanceof ServiceDown)) throw err;
  }
  renderCards();
}

function cardList() {
  const list = state.devices.map((d) => ({ id: d.id, role: d.role, device: d, manual: false }));
  for (const role of ROLES) {
    if (!list.some((c) => c.role === role)) list.push({ id: `manual-${role}`, role, device: null, manual: true });
  }
  list.push({ id: "manual-waist", role: "waist", device: null, manual: true });
  return list;
}

function latest(kind) {
  const rows = (state.screening && state.screening.measurements) || [];
  let found = null;
  for (const m of rows) if (m.kind === kind && m.value !== null) found = m;
  return found;
}

function unitText(unit) {
  return SHOWN_UNITS[unit] || unit;
}

// When a value was measured: "hace 3 min" today, the date and time when older.
function whenText(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const locale = state.lang === "en" ? "en-US" : "es-MX";
  const seconds = Math.round((Date.now() - at.getTime()) / 1000);
  if (seconds >= -60 && seconds < 12 * 3600) {
    const rtf = new Intl.RelativeTimeFormat(locale, { style: "short", numeric: "always" });
    if (seconds < 3600) return rtf.format(-Math.max(1, Math.round(seconds / 60)), "minute");
    return rtf.format(-Math.round(seconds / 3600), "hour");
  }
  return at.toLocaleString(locale, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}

// How far a device clock is off, in the unit a nurse would say: min, h or days.
function durationText(seconds) {
  const abs = Math.abs(seconds);
  const sign = seconds < 0 ? t("clock.behind") : t("clock.ahead");
  let text;
  if (abs < 7200) text = t("duration.min", { n: fmt(Math.round(abs / 60), 0) });
  else if (abs < 172800) text = t("duration.h", { n: fmt(Math.round(abs / 3600), 0) });
  else text = t("duration.days", { n: fmt(Math.round(abs / 86400), 0) });
  return `${text} ${sign}`;
}

// Clock and protocol flags the nurse must see next to the value.
function flagNotes(m) {
  const notes = [];
  if (m.flags.includes("clock_skew")) {
    const offset = m.clock_offset_s;
    notes.push(offset !== null && offset !== undefined ? t("flag.clock_skew.by", { d: durationText(offset) }) : t("flag.clock_skew"));
  }
  if (m.flags.includes("stale")) notes.push(t("flag.stale"));
  return notes;
}

function valueFor(role) {
  if (role === "bp") {
    const sys = latest("systolic_pressure");
    const dia = latest("diastolic_pressure");
    if (!sys || !dia) return null;
    const pulse = latest("pulse_rate");
    const notes = [];
    if (pulse) notes.push(t("value.pulse", { n: fmtMeasurement(pulse, 0) }));
    if (sys.flags.includes("average")) notes.push(t("value.average", { n: sys.context.readings || "2" }));
    if (sys.manual_entry) notes.push(t("value.manual"));
    return { text: `${fmtMeasurement(sys, 0)}/${fmtMeasurement(dia, 0)}`, unit: "mmHg", note: notes.join(" · "), m: sys, manual: sys.manual_entry };
  }
  const m = latest(ROLE_KINDS[role][0]);
  if (!m) return null;
  return { text: fmtMeasurement(m, 1), unit: unitText(m.unit), note: m.manual_entry ? t("value.manual") : "", m, manual: m.manual_entry };
}

// The blood pressure rests on fewer readings than the protocol requires (NOM-030).
function bpShortText() {
  const bp = state.screening && state.screening.bp;
  if (!bp || bp.complete) return null;
  return t("bp.incomplete", { valid: bp.valid, required: bp.required });
}

function countdownText(live) {
  const left = Math.max(0, Math.ceil((live.nextAt - Date.now()) / 1000));
  return t("state.next", { s: left });
}

function stateText(card, live) {
  if (live && live.stage === "error" && valueFor(card.role)) return t("state.failed_kept");
  if (live && live.stage) {
    let text;
    if (live.stage === "waiting" && live.nextAt) text = countdownText(live);
    else if (live.stage === "waiting") text = t(`state.waiting.${card.role}`);
    else if (live.stage === "reading") text = t("state.progress");
    else text = t(`state.${live.stage}`);
    if (live.readings > 1 && live.stage !== "done" && live.stage !== "error" && !live.nextAt) {
      text += ` · ${t("state.reading", { n: live.reading || 1, total: live.readings })}`;
    }
    return text;
  }
  const value = valueFor(card.role);
  if (value) return value.manual ? t("state.manual") : t("state.done");
  if (card.manual) return card.role === "waist" ? t("state.manual") : t("state.nodevice");
  if (card.device && card.device.state === "offline") return t("state.offline");
  if (card.device && card.device.state === "error") return t("state.error");
  return t("state.idle");
}

function stateClass(card, live) {
  const stage = live && live.stage;
  // a failed retry keeps the earlier value: not red, not green
  if (stage === "error") return valueFor(card.role) ? "kept" : "error";
  if (stage === "done") return "done";
  if (stage) return "busy";
  if (valueFor(card.role)) return "done";
  if (card.device && ["offline", "error"].includes(card.device.state)) return "error";
  return "idle";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function gauge(pressure) {
  const value = Math.max(0, Math.min(GAUGE_MAX, Number(pressure) || 0));
  const pct = (value / GAUGE_MAX) * 100;
  return el(
    "div",
    {
      class: "gauge",
      role: "meter",
      "aria-label": t("gauge.label"),
      "aria-valuemin": "0",
      "aria-valuemax": String(GAUGE_MAX),
      "aria-valuenow": String(Math.round(value)),
      "aria-valuetext": `${Math.round(value)} mmHg`,
    },
    el("div", { class: "gauge-track" }, el("div", { class: "gauge-fill", style: `width:${pct}%` })),
    el("div", { class: "gauge-text", "aria-hidden": "true", text: `${t("gauge.label")}: ${Math.round(value)} mmHg` }),
  );
}

function renderCards() {
  const box = $("cards");
  if (!box || !state.screening) return;
  const completed = state.screening.status === "completed";
  box.replaceChildren();
  for (const card of cardList()) {
    const live = state.cards[card.id];
    const cls = stateClass(card, live);
    const titleId = `card-${card.id}-title`;
    const value = valueFor(card.role);
    const partial = live && live.partial && live.stage === "progress" ? live.partial : null;
    const shown = partial
      ? { text: fmtMeasurement(partial, 1), unit: unitText(partial.unit), note: "" }
      : value;
    const counting = live && live.stage === "waiting" && live.nextAt;
    const article = el(
      "article",
      { class: `card card--${cls}`, "aria-labelledby": titleId, "data-device": card.id, "data-role": card.role, "data-state": cls, "data-empty": shown ? null : "true" },
      el("h3", { id: titleId, class: "card-title", text: t(`role.${card.role}`) }),
      el("p", { class: `badge badge-${cls}`, text: stateText(card, live), "data-until": counting ? String(live.nextAt) : null }),
      el(
        "p",
        { class: "value" },
        el("span", { class: "value-number", text: shown ? shown.text : "—" }),
        shown ? el("span", { class: "value-unit", text: ` ${shown.unit}` }) : null,
      ),
      shown && shown.note ? el("p", { class: "value-note", text: shown.note }) : null,
      counting ? el("p", { class: "value-note", text: t("state.rest", { n: live.reading || 2, total: live.readings || 2 }) }) : null,
      shown && shown.m ? el("p", { class: "value-when", "data-at": shown.m.measured_at || shown.m.received_at, text: whenText(shown.m.measured_at || shown.m.received_at) }) : null,
      ...(shown && shown.m ? flagNotes(shown.m).map((f) => el("p", { class: "card-flag", text: f })) : []),
      card.role === "bp" && !state.running && bpShortText() ? el("p", { class: "card-flag", "data-flag": "bp_incomplete", text: bpShortText() }) : null,
    );
    if (card.role === "bp" && !card.manual && live && (live.cuff !== undefined || live.stage === "progress")) {
      article.append(gauge(live.cuff));
    }
    const error = live && live.error;
    const deviceMessage = !live && card.device && ["offline", "error"].includes(card.device.state) ? card.device.message : null;
    // the device's standing problem is not repeated next to a value the nurse typed
    if (error || (deviceMessage && !value)) {
      article.append(el("p", { class: "card-error", text: error ? deviceErrorText(error, card.role) : deviceMessage }));
    }
    const actions = el("div", { class: "card-actions" });
    if (!completed) {
      if (!card.manual && (error || deviceMessage)) {
        actions.append(
          el("button", {
            type: "button",
            class: "btn btn-primary",
            text: t("measure.retry"),
            disabled: state.running,
            "aria-label": `${t("measure.retry")}: ${t(`role.${card.role}`)}`,
            onclick: () => measure([card.id]),
          }),
        );
      }
      if (card.manual || error || deviceMessage) {
        const label = card.role === "waist" ? t("waist.enter") : t("measure.manual");
        actions.append(
          el("button", {
            type: "button",
            class: card.role === "waist" ? "btn btn-primary" : "btn btn-secondary",
            text: label,
            "aria-label": card.role === "waist" ? label : `${label}: ${t(`role.${card.role}`)}`,
            "data-manual": card.role,
            onclick: () => enterByHand(card.role),
          }),
        );
      }
    }
    if (actions.childElementCount) article.append(actions);
    box.append(article);
  }
  const button = $("measure");
  button.disabled = state.running || completed;
  button.textContent = state.running ? t("measure.running") : t("measure.button");
}

// The countdown between blood-pressure readings and the "hace N min" ages, in place
// (re-rendering the cards would move the nurse's focus).
function tick() {
  checkIdle();
  for (const badge of document.querySelectorAll(".badge[data-until]")) {
    badge.textContent = countdownText({ nextAt: Number(badge.dataset.until) });
  }
  for (const when of document.querySelectorAll(".value-when[data-at]")) {
    const text = whenText(when.dataset.at);
    if (when.textContent !== text) when.textContent = text;
  }
}

// ----------------------------------------------------------------------------- measuring

async function measure(devices) {
  setError($("measure-error"), "");
  const body = devices ? { devices } : {};
  let res;
  try {
    res = await api("POST", `/screenings/${state.screening.id}/measure`, body);
  } catch (err) {
    if (err instanceof ServiceDown) return;
    throw err;
  }
  if (res.status === 202) {
    for (const id of res.data.devices) state.cards[id] = { stage: "connecting" };
    state.running = true;
    renderCards();
    openEvents(res.data.events);
    return;
  }
  setError($("measure-error"), res.status === 409 && !res.data.detail.devices ? t("measure.busy") : problemText(res.data));
}

function closeEvents() {
  if (state.source) state.source.close();
  state.source = null;
}

function openEvents(url) {
  closeEvents();
  const source = new EventSource(url);
  state.source = source;
  const names = ["started", "connecting", "waiting", "progress", "reading", "done", "error", "end"];
  for (const name of names) {
    source.addEventListener(name, (event) => {
      if (event.data) onRunEvent(name, JSON.parse(event.data));
    });
  }
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED && state.source === source) {
      state.running = false;
      state.source = null;
      setError($("measure-error"), t("measure.lost"));
      renderCards();
    }
  };
}

function announce(text) {
  $("live").textContent = text;
}

function onRunEvent(name, data) {
  if (name === "end") {
    closeEvents();
    state.running = false;
    setError($("session-error"), "");
    // the summary repeats what still needs the nurse, so it is not lost for screen readers
    const problems = (data.failed || [])
      .map((id) => {
        const card = state.cards[id];
        const role = (state.devices.find((d) => d.id === id) || {}).role || "scale";
        return card && card.error ? `${t(`role.${role}`)}: ${deviceErrorText(card.error, role)}` : null;
      })
      .filter(Boolean);
    announce([t("measure.finished"), ...problems].join(". "));
    refreshScreening();
    loadDevices();
    return;
  }
  if (name === "started") {
    for (const d of data.devices) state.cards[d.device_id] = { stage: "connecting" };
    renderCards();
    return;
  }
  const card = state.cards[data.device_id] || (state.cards[data.device_id] = {});
  const role = data.role || "scale";
  const before = card.stage;
  card.stage = name;
  const detail = data.detail || {};
  card.nextAt = name === "waiting" && detail.next_reading_in_s ? Date.now() + detail.next_reading_in_s * 1000 : null;
  if (detail.readings) {
    card.reading = detail.reading;
    card.readings = detail.readings;
  }
  if (data.readings && typeof data.readings === "number") {
    card.reading = data.reading;
    card.readings = data.readings;
  }
  if (name === "progress" && data.measurement) {
    if (data.measurement.kind === "cuff_pressure") card.cuff = data.measurement.value;
    else card.partial = data.measurement;
  }
  if (name === "error") {
    card.error = data.error;
    announce(`${t(`role.${role}`)}: ${deviceErrorText(data.error, role)}`);
  } else {
    card.error = null;
  }
  if (name === "reading" || name === "done") {
    card.partial = null;
    card.cuff = undefined;
    refreshScreening();
  }
  if (name === "done") announce(`${t(`role.${role}`)}: ${t("state.done")}`);
  else if (name !== before && name !== "error") announce(`${t(`role.${role}`)}: ${stateText({ role }, card)}`);
  renderCards();
}

async function refreshScreening() {
  if (!state.screening) return;
  try {
    const res = await api("GET", `/screenings/${state.screening.id}`);
    if (res.ok && state.screening && res.data.id === state.screening.id) state.screening = res.data;
  } catch (err) {
    if (!(err instanceof ServiceDown)) throw err;
  }
  renderCards();
  renderResults();
}

// ----------------------------------------------------------------------------- keypad

const keypad = { kind: null, text: "", resolve: null };

function keypadRender() {
  $("keypad-display").textContent = keypad.text || "—";
}

function keypadPress(key) {
  if (key === "del") keypad.text = keypad.text.slice(0, -1);
  else if (key === "." || key === ",") {
    if (!keypad.text.includes(".")) keypad.text = (keypad.text || "0") + ".";
  } else if (/^\d$/.test(key) && keypad.text.replace(".", "").length < 5) keypad.text += key;
  setError($("keypad-error"), "");
  keypadRender();
}

function askValue(kind) {
  keypad.kind = kind;
  keypad.text = "";
  $("keypad-title").textContent = t(`keypad.title.${kind}`);
  setError($("keypad-error"), "");
  keypadRender();
  const dialog = $("keypad");
  dialog.showModal();
  dialog.querySelector('.key[data-key="1"]').focus();
  return new Promise((resolve) => {
    keypad.resolve = resolve;
  });
}

function keypadClose(result) {
  const resolve = keypad.resolve;
  keypad.resolve = null;
  if ($("keypad").open) $("keypad").close();
  if (resolve) resolve(result);
}

async function keypadSubmit(event) {
  event.preventDefault();
  const value = Number(keypad.text);
  if (!keypad.text || Number.isNaN(value)) {
    setError($("keypad-error"), t("keypad.empty"));
    return;
  }
  // the digits typed after the point are the precision ("92.0" is not "92"); a JSON
  // number cannot carry them, so they travel as `decimals`
  const point = keypad.text.indexOf(".");
  const res = await api("POST", `/screenings/${state.screening.id}/measurements`, {
    kind: keypad.kind,
    value,
    unit: UNITS[keypad.kind],
    decimals: point < 0 ? 0 : keypad.text.length - point - 1,
  });
  if (res.status === 201) {
    keypadClose(res.data);
    return;
  }
  setError($("keypad-error"), problemText(res.data));
}

async function enterByHand(role) {
  const opener = document.activeElement;
  for (const kind of ROLE_KINDS[role]) {
    const saved = await askValue(kind);
    if (!saved) break;
  }
  // the typed value replaces the failure: the card no longer says "Error"
  for (const card of cardList()) if (card.role === role) delete state.cards[card.id];
  await refreshScreening();
  const again = document.querySelector(`[data-manual="${role}"]`);
  (again || opener || $("measure")).focus();
}

// ----------------------------------------------------------------------------- results

function recText(item) {
  return state.lang === "en" ? item.text.en : item.text.es;
}

function figures(condition, c) {
  const out = [];
  if (condition === "obesity") {
    if (c.bmi !== null) out.push(t("fig.bmi", { v: fmt(c.bmi, 1) }));
    const waist = latest("waist_circumference");
    if (waist) out.push(t("fig.waist", { v: fmtMeasurement(waist, 1) }));
  } else if (condition === "hypertension") {
    const v = valueFor("bp");
    if (v) out.push(t("fig.bp", { v: v.text }));
  } else if (condition === "diabetes") {
    const g = latest("glucose");
    if (g) out.push(t("fig.glucose", { v: fmtMeasurement(g, 0) }));
  }
  return out;
}

function renderResults() {
  const s = state.screening;
  if (!s) return;
  const c = s.classification;
  const hasData = s.measurements.length > 0;
  show($("results-pending"), !hasData);
  setError($("results-error"), s.classification_error ? problemText({ detail: [s.classification_error] }) : "");
  const lights = $("lights");
  lights.replaceChildren();
  show($("urgent"), false);
  show($("alerts-box"), false);
  if (c && hasData) {
    for (const condition of CONDITIONS) {
      const domain = c.overall[condition];
      const color = LIGHT[domain] || "gray";
      const label = domain ? t(`domain.${domain}`) : t("domain.missing");
      const titleId = `light-${condition}`;
      const recs = c.recommendations.filter((r) => r.domain === condition);
      lights.append(
        el(
          "article",
          { class: `light light-${color}`, "aria-labelledby": titleId, "data-condition": condition, "data-domain": domain || "missing" },
          el("h3", { id: titleId, class: "light-title", text: t(`condition.${condition}`) }),
          el(
            "p",
            { class: "light-status" },
            el("span", { class: "lamp", "aria-hidden": "true", text: SYMBOL[color] }),
            el("span", { text: label }),
          ),
          ...figures(condition, c).map((f) => el("p", { class: "figure", text: f })),
          recs.length ? el("ul", { class: "recs", "aria-label": t("results.recommendations") }, ...recs.map((r) => el("li", { text: recText(r) }))) : null,
        ),
      );
    }
    const urgentAlerts = c.alerts.filter((a) => a.severity === "urgent");
    const otherAlerts = c.alerts.filter((a) => a.severity !== "urgent");
    if (c.overall.urgent_attention) {
      $("urgent-list").replaceChildren(...urgentAlerts.map((a) => el("li", { text: recText(a) })));
      show($("urgent"), true);
    }
    const quality = (c.data_quality || []).map((q) =>
      el("li", { class: "alert alert-warning", "data-quality": q.code, text: state.lang === "en" ? q.message : q.message_es }),
    );
    if (otherAlerts.length || quality.length) {
      $("alerts").replaceChildren(
        ...quality,
        ...otherAlerts.map((a) => el("li", { class: `alert alert-${a.severity}`, text: recText(a) })),
      );
      show($("alerts-box"), true);
    }
  }
  const completed = s.status === "completed";
  $("save").disabled = !hasData || completed || state.running || state.saving;
  show($("save"), !completed);
  show($("next"), completed);
  show($("print"), completed);
  $("print").href = `/screenings/${s.id}/summary`;
  $("step-measure").classList.toggle("compact", completed);
  $("saved").textContent = completed ? t("saved") : "";
}

async function save() {
  setError($("save-error"), "");
  state.saving = true;
  $("save").textContent = t("saving");
  renderResults();
  try {
    const res = await api("POST", `/screenings/${state.screening.id}/complete`);
    if (res.ok) {
      state.screening = res.data;
      renderCards();
      renderResults();
      $("next").focus();
      loadSync();
    } else {
      setError($("save-error"), problemText(res.data));
    }
  } finally {
    state.saving = false;
    $("save").textContent = t("save");
    renderResults();
  }
}

// ----------------------------------------------------------------------------- session
// Who is signed in, "Cambiar de enfermera" / "Cerrar sesión" and the inactivity lock. All
// three leave for the sign-in screen: a new document, so no patient datum survives in the
// DOM or in this page's state. An open screening stays in the address (#/screenings/N)
// and the next sign-in comes back to it.

let lastActivity = Date.now();
let leaving = false;
const timers = []; // the page's intervals, stopped when it leaves

function noteActivity() {
  lastActivity = Date.now();
}

async function loadSession() {
  const res = await api("GET", "/session"); // signed out: api() leaves for the sign-in
  if (!res.ok) return;
  state.user = res.data.user;
  state.lockAfterMs = res.data.lock_after_s * 1000;
  renderUser();
}

function renderUser() {
  $("who").textContent = state.user ? t("session.who", { name: state.user.display_name }) : "";
  $("who").title = state.user ? state.user.display_name : "";
  // device setup is for technicians and administrators; a nurse would only meet a 403 there
  $("nav-devices").hidden = !(state.user && ["technician", "administrator"].includes(state.user.role));
}

// A run under way belongs to the nurse who started it and to this patient: she stays
// until it ends (the inactivity lock does not wait; the run then finishes under her).
function signOut(reason) {
  if (state.running) {
    setError($("session-error"), t("session.busy"));
    $("session-error").scrollIntoView({ block: "nearest" });
    return;
  }
  leaveKiosk(reason);
}

// reason: "switch", "sign_out", "lock" or "expired" (a session the service already ended).
function leaveKiosk(reason) {
  if (leaving) return;
  leaving = true;
  for (const id of timers) clearInterval(id);
  closeEvents();
  if ((reason === "lock" || reason === "expired") && state.user) {
    sessionStorage.setItem("mido.locked", JSON.stringify({ username: state.user.username, name: state.user.display_name }));
  } else {
    sessionStorage.removeItem("mido.locked");
  }
  // the locked nurse comes back to where she was; the next nurse to the open screening
  const open = state.screening && state.screening.status !== "completed" ? `#/screenings/${state.screening.id}` : "";
  const where = { lock: location.hash, expired: location.hash, switch: open }[reason] || "";
  // patient data out of the page first, whatever the network does next
  state.patient = null;
  state.screening = null;
  state.cards = {};
  state.user = null;
  document.body.replaceChildren(el("main", { id: "main", class: "leaving" }, el("p", { class: "note", text: t("session.leaving") })));
  if (reason !== "expired") {
    // ended on the service at once (the sign-in screen asks again, in case this is lost)
    fetch(`${API}/session?reason=${reason}`, { method: "DELETE", keepalive: true }).catch(() => null);
  }
  location.replace(`/signin.html?reason=${reason}${where}`);
}

function checkIdle() {
  if (state.lockAfterMs && Date.now() - lastActivity >= state.lockAfterMs) leaveKiosk("lock");
}

// ----------------------------------------------------------------------------- SIC footer

let sync = null;

async function loadSync() {
  try {
    const res = await api("GET", "/sync");
    sync = res.ok ? res.data : null;
  } catch (err) {
    if (!(err instanceof ServiceDown)) throw err;
    sync = null;
  }
  renderSync();
}

function renderSync() {
  if (!sync) {
    $("sync-text").textContent = t("sync.unknown");
    setError($("sync-error"), "");
    return;
  }
  $("sync-text").textContent = t("sync.summary", sync);
  const last = sync.last_error;
  setError($("sync-error"), last && last.message ? syncProblem(last) : "");
}

// SIC's own errors are English and technical: the nurse reads what it means.
function syncProblem(last) {
  if (state.lang === "en") return t("sync.error", { message: last.message });
  if (last.status === "rejected") return t("sync.rejected", { id: last.screening_id });
  return t("sync.retrying");
}

// ----------------------------------------------------------------------------- wiring

function init() {
  $("find-form").addEventListener("submit", findPatient);
  $("register-form").addEventListener("submit", registerPatient);
  $("register-cancel").addEventListener("click", () => {
    show($("register-form"), false);
    $("curp").focus();
  });
  $("options-form").addEventListener("submit", startScreening);
  $("patient-change").addEventListener("click", changePatient);
  $("patient-history").addEventListener("click", () => {
    if (state.patient) location.hash = `#/patients/${state.patient.id}`;
  });
  $("search-form").addEventListener("submit", searchByName);
  for (const button of document.querySelectorAll("#view-worklist .filter")) {
    button.addEventListener("click", () => {
      state.worklistFilter = button.dataset.filter;
      loadWorklist();
    });
  }
  $("indicators-form").addEventListener("submit", (e) => {
    e.preventDefault();
    loadIndicators();
  });
  window.addEventListener("hashchange", route);
  $("measure").addEventListener("click", () => measure(null));
  $("save").addEventListener("click", save);
  $("next").addEventListener("click", () => {
    resetAll();
    go("#/");
  });
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "es-MX" : "en";
    localStorage.setItem("mido.lang", state.lang);
    applyI18n();
  });
  $("curp").addEventListener("input", (e) => {
    const pos = e.target.selectionStart;
    e.target.value = e.target.value.toUpperCase();
    e.target.setSelectionRange(pos, pos);
  });
  for (const key of document.querySelectorAll("#keypad .key")) {
    key.addEventListener("click", () => keypadPress(key.dataset.key));
  }
  $("keypad-form").addEventListener("submit", keypadSubmit);
  $("keypad-cancel").addEventListener("click", () => keypadClose(null));
  // Escape cancels; the asynchronous "close" event must not resolve (and close) the
  // next keypad a two-value entry (blood pressure) opens meanwhile
  $("keypad").addEventListener("cancel", (e) => {
    e.preventDefault();
    keypadClose(null);
  });
  $("keypad").addEventListener("keydown", (e) => {
    if (/^\d$/.test(e.key) || e.key === "." || e.key === ",") {
      keypadPress(e.key);
      e.preventDefault();
    } else if (e.key === "Backspace") {
      keypadPress("del");
      e.preventDefault();
    } else if (e.key === "Enter") {
      $("keypad-form").requestSubmit();
      e.preventDefault();
    }
  });
  $("switch-nurse").addEventListener("click", () => signOut("switch"));
  $("sign-out").addEventListener("click", () => signOut("sign_out"));
  for (const type of ["pointerdown", "pointermove", "touchstart", "keydown", "wheel"]) {
    document.addEventListener(type, noteActivity, { capture: true, passive: true });
  }
  timers.push(setInterval(tick, 1000));
  applyI18n();
  loadSession();
  loadSync();
  timers.push(setInterval(loadSync, 10000));
  timers.push(
    setInterval(() => {
      if (state.screening && !state.running) loadDevices();
    }, 10000),
  );
  $("curp").focus();
  route();
}

// ----------------------------------------------------------------------------- views

const VIEWS = ["home", "worklist", "history", "indicators"];

function setView(view) {
  state.view = view;
  for (const name of ["step-patient", "step-measure", "step-results"]) {
    if (view !== "home") show($(name), false);
  }
  show($("view-worklist"), view === "worklist");
  show($("view-history"), view === "history");
  show($("view-indicators"), view === "indicators");
  for (const link of document.querySelectorAll(".nav-link")) {
    if (link.dataset.nav === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

let lastHash = location.hash;

// A new address without a hashchange round trip (the state is already there).
function go(hash) {
  if (location.hash !== hash) history.pushState(null, "", hash);
  lastHash = hash;
}

async function route() {
  const hash = location.hash || "#/";
  const screening = hash.match(/^#\/screenings\/(\d+)$/);
  const patient = hash.match(/^#\/patients\/(\d+)$/);
  const open = state.screening && state.screening.status !== "completed";
  if (open && screening && Number(screening[1]) !== state.screening.id) {
    // another screening from the worklist: leave this one as "Cambiar paciente" does
    if (!(await leaveScreening())) {
      history.replaceState(null, "", lastHash);
      return;
    }
    resetAll();
  }
  if (state.screening && (hash === "#/" || hash === "")) {
    // "Tamizaje" (or back) while a patient is on the kiosk: that screening, not a new one
    history.replaceState(null, "", `#/screenings/${state.screening.id}`);
    lastHash = location.hash;
    setView("home");
    showScreening();
    return;
  }
  lastHash = hash;
  if (screening) {
    setView("home");
    await resumeScreening(Number(screening[1]));
  } else if (patient) {
    setView("history");
    await loadHistory(Number(patient[1]));
  } else if (hash === "#/worklist") {
    setView("worklist");
    await loadWorklist();
  } else if (hash === "#/indicators") {
    setView("indicators");
    await loadIndicators();
  } else {
    setView("home");
    if (state.screening) showScreening();
    else show($("step-patient"), true);
  }
}

async function searchByName(event) {
  event.preventDefault();
  const q = $("name-q").value.trim();
  setError($("name-q-error"), "");
  if (q.length < 2) {
    setError($("name-q-error"), t("patient.search.short"));
    return;
  }
  const res = await api("GET", `/patients?q=${encodeURIComponent(q)}`);
  if (!res.ok) {
    setError($("name-q-error"), problemText(res.data));
    return;
  }
  if (!res.data.length) setError($("name-q-error"), t("patient.search.none"));
  $("name-results").replaceChildren(
    ...res.data.map((p) =>
      el(
        "li",
        {},
        el("button", {
          type: "button",
          class: "btn btn-secondary result",
          text: `${p.given_name} ${p.family_name} · ${p.curp}`,
          onclick: () => {
            $("curp").value = p.curp;
            setPatient(p);
          },
        }),
      ),
    ),
  );
}

function patientName(p) {
  return p ? `${p.given_name} ${p.family_name}` : "—";
}

function timeText(iso) {
  const locale = state.lang === "en" ? "en-US" : "es-MX";
  return new Date(iso).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
}

async function loadWorklist() {
  for (const button of document.querySelectorAll("#view-worklist .filter")) {
    button.setAttribute("aria-pressed", String(button.dataset.filter === state.worklistFilter));
  }
  // no date: the service's "today" is the cart's calendar day (its time zone setting)
  const filter = state.worklistFilter ? `?status=${state.worklistFilter}` : "";
  const res = await api("GET", `/screenings${filter}`);
  const rows = res.ok ? res.data : [];
  show($("worklist-empty"), rows.length === 0);
  $("worklist").replaceChildren(
    ...rows.map((row) =>
      workItem(row, timeText(row.created_at), patientName(row.patient), worklistStatus(row)),
    ),
  );
}

// one row of the worklist or of a patient's history: a link to the screening
function workItem(row, time, name, status) {
  return el(
    "li",
    { class: `work work--${row.urgent ? "urgent" : row.status}` },
    el(
      "a",
      { href: `#/screenings/${row.id}`, class: "work-link" },
      el("span", { class: "work-time", text: time }),
      el("span", { class: "work-name", text: name }),
      el("span", { class: "work-status", text: status }),
    ),
  );
}

function worklistStatus(row) {
  const parts = [t(`status.${row.status}`)];
  if (row.urgent) parts.push(t("urgent.title"));
  if (row.sic) parts.push(t(`sic.${row.sic}`));
  return parts.join(" · ");
}

async function loadHistory(id) {
  const [patient, screenings] = await Promise.all([api("GET", `/patients/${id}`), api("GET", `/patients/${id}/screenings`)]);
  $("history-name").textContent = patient.ok ? `${patientName(patient.data)} · ${patient.data.curp}` : problemText(patient.data);
  const rows = screenings.ok ? screenings.data : [];
  $("history-list").replaceChildren(
    ...rows.map((row) =>
      workItem(row, new Date(row.created_at).toLocaleDateString(state.lang === "en" ? "en-US" : "es-MX"), historyValues(row), historyStatus(row)),
    ),
  );
  drawHistoryCharts(rows);
}

function historyValues(row) {
  const v = row.values || {};
  const d = row.decimals || {};
  const shown = (kind, usual) => fmtReported(v[kind], d[kind], usual);
  const parts = [];
  if (v.body_weight !== undefined) parts.push(`${shown("body_weight", 1)} kg`);
  if (v.bmi !== undefined && v.bmi !== null) parts.push(t("fig.bmi", { v: shown("bmi", 1) }));
  if (v.systolic_pressure !== undefined && v.diastolic_pressure !== undefined) parts.push(`${shown("systolic_pressure", 0)}/${shown("diastolic_pressure", 0)} mmHg`);
  if (v.glucose !== undefined) parts.push(`${shown("glucose", 0)} mg/dL`);
  return parts.join(" · ") || "—";
}

function historyStatus(row) {
  const parts = [t(`status.${row.status}`)];
  if (row.known_diagnoses && row.known_diagnoses.length) {
    parts.push(t("history.known", { list: row.known_diagnoses.map((d) => t(`dx.${d}`)).join(", ") }));
  }
  for (const condition of CONDITIONS) {
    const domain = row.overall && row.overall[condition];
    if (domain) parts.push(`${t(`condition.${condition}`)}: ${t(`domain.${domain}`)}`);
  }
  return parts.join(" · ");
}

async function loadIndicators() {
  if (!$("ind-to").value) $("ind-to").value = localDay(new Date());
  if (!$("ind-from").value) $("ind-from").value = localDay(new Date(Date.now() - 29 * 86400000));
  const res = await api("GET", `/indicators?from=${$("ind-from").value}&to=${$("ind-to").value}`);
  if (!res.ok) {
    $("indicators").replaceChildren(el("dd", { class: "field-error", text: problemText(res.data) }));
    return;
  }
  const d = res.data;
  const pct = (v) => (v === null || v === undefined ? "—" : `${fmt(v, 1)} %`);
  const items = [
    ["ind.screenings", fmt(d.screenings, 0)],
    ["ind.completed", fmt(d.completed, 0)],
    ["ind.complete_pct", pct(d.complete_pct)],
    ...CONDITIONS.map((c) => [`ind.risk.${c}`, pct(d.at_risk_pct[c])]),
    ["ind.urgent", fmt(d.urgent, 0)],
    ["ind.sic_pending", fmt(d.sic.pending, 0)],
    ["ind.sic_rejected", fmt(d.sic.rejected, 0)],
  ];
  $("indicators").replaceChildren(
    ...items.flatMap(([key, value]) => [el("dt", { text: t(key) }), el("dd", { "data-indicator": key, text: value })]),
  );
  drawIndicatorCharts(d);
}

// ----------------------------------------------------------------------------- charts
// uPlot (vendored under vendor/uplot): small, fast on the cart's low-power board, no CDN.

function chart(box, title, xs, series, unit) {
  const figure = el("figure", { class: "chart" }, el("figcaption", { text: title }));
  box.append(figure);
  // the figure's own width (a grid cell), so the plot is never clipped on the right
  const width = Math.max(220, Math.min(560, figure.clientWidth - 16));
  const colors = ["#0a3d8f", "#a10f0f", "#0b6b2f"];
  // a text equivalent for screen readers: the plot itself is a canvas
  const table = el("table", { class: "sr-only" });
  table.append(el("tr", {}, el("th", { text: t("chart.date"), scope: "col" }), ...series.map((s) => el("th", { text: s.label, scope: "col" }))));
  xs.forEach((x, i) => {
    const day = new Date(x * 1000).toLocaleDateString(state.lang === "en" ? "en-US" : "es-MX");
    table.append(el("tr", {}, el("th", { text: day, scope: "row" }), ...series.map((s) => el("td", { text: s.values[i] === null ? "—" : `${fmtReported(s.values[i], s.decimals ? s.decimals[i] : null, 1)} ${unit}` }))));
  });
  figure.append(table);
  if (typeof window.uPlot !== "function" || xs.length === 0) return;
  const opts = {
    width,
    height: 180,
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % 3], width: 2, points: { size: 7 } }))],
    axes: [{}, { label: unit }],
    // a margin around the visits, so the first and the last point are not on the edges
    scales: { x: { time: true, range: (u, min, max) => { const pad = Math.max(3600, (max - min) * 0.08); return [min - pad, max + pad]; } } },
    legend: { show: series.length > 1, live: false },
    cursor: { show: false },
  };
  const plot = new window.uPlot(opts, [xs, ...series.map((s) => s.values)], figure);
  plot.root.setAttribute("aria-hidden", "true");
}

function drawHistoryCharts(rows) {
  const box = $("history-charts");
  box.replaceChildren();
  const sorted = [...rows].sort((a, b) => a.created_at.localeCompare(b.created_at));
  const xs = sorted.map((r) => Math.round(new Date(r.created_at).getTime() / 1000));
  const pick = (kind) => sorted.map((r) => (r.values && r.values[kind] !== undefined ? r.values[kind] : null));
  const places = (kind) => sorted.map((r) => (r.decimals && r.decimals[kind] !== undefined ? r.decimals[kind] : null));
  const line = (label, kind) => ({ label, values: pick(kind), decimals: places(kind) });
  chart(box, t("chart.weight"), xs, [line(t("role.scale"), "body_weight")], "kg");
  chart(box, t("chart.bmi"), xs, [line("IMC", "bmi")], "kg/m²");
  chart(box, t("chart.bp"), xs, [
    line(t("chart.systolic"), "systolic_pressure"),
    line(t("chart.diastolic"), "diastolic_pressure"),
  ], "mmHg");
  chart(box, t("chart.glucose"), xs, [line(t("role.glucometer"), "glucose")], "mg/dL");
}

function drawIndicatorCharts(d) {
  const box = $("indicators-charts");
  box.replaceChildren();
  const xs = d.per_day.map((p) => Math.round(new Date(`${p.date}T12:00:00`).getTime() / 1000));
  chart(box, t("chart.per_day"), xs, [{ label: t("ind.screenings"), values: d.per_day.map((p) => p.screenings) }], "");
}

function localDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

init();
