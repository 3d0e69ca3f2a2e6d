// Technician mode: scan -> identify -> test reading -> assign a role -> save devices.toml
// -> reload the drivers. Every call goes to /api/v1/technician (technician or
// administrator); the page holds no device knowledge, it shows what the API says.
const API = "/api/v1/technician";

const ROLES = { scale: "Báscula", stadiometer: "Estadímetro", bp: "Baumanómetro", glucometer: "Glucómetro" };
const DEFAULT_IDS = { scale: "bascula", stadiometer: "estadimetro", bp: "baumanometro", glucometer: "glucometro" };
const TRANSPORTS = { serial: "Puerto serie", modbus: "Modbus RTU (puerto serie)", ble: "Bluetooth" };
const KINDS = {
  body_weight: "Peso", body_height: "Estatura", bmi: "IMC", body_fat: "Grasa corporal",
  systolic_pressure: "Sistólica", diastolic_pressure: "Diastólica",
  mean_arterial_pressure: "Presión media", pulse_rate: "Pulso", glucose: "Glucosa",
};
const UNITS = { "mm[Hg]": "mmHg", "/min": "lpm", "kg/m2": "kg/m²" };
const STATES = { ready: "Listo", busy: "Midiendo", offline: "Sin conexión", error: "Con error" };

const $ = (id) => document.getElementById(id);
const state = { config: [], candidate: null };

class ApiError extends Error {
  constructor(status, detail) {
    const item = Array.isArray(detail) ? detail[0] : detail;
    super(item?.nurse_message ?? (typeof item === "string" ? item : "Ocurrió un error: intente de nuevo"));
    this.status = status;
  }
}

async function api(method, path, body) {
  let resp;
  try {
    resp = await fetch(API + path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "El servicio del carrito no responde: espere un momento y vuelva a intentar");
  }
  if (resp.status === 401) {
    window.location.assign("/signin.html");
    throw new ApiError(401, "Inicie sesión para continuar");
  }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new ApiError(resp.status, data.detail);
  return data;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function button(text, label, onClick, kind = "btn-secondary") {
  const b = el("button", { type: "button", className: `btn ${kind}`, textContent: text });
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function say(id, text) {
  $(id).textContent = text;
}

function banner(error) {
  $("banner").textContent = error.message;
  $("banner").hidden = false;
}

function where(entry) {
  return entry.port ?? entry.address ?? entry.name ?? "?";
}

// ------------------------------------------------------------------ configuration

function renderConfig() {
  const list = $("config-list");
  list.replaceChildren();
  if (state.config.length === 0) {
    list.append(el("li", { className: "note", textContent: "No hay equipos configurados todavía." }));
  }
  for (const entry of state.config) {
    const text = el("div", { className: "tech-entry" },
      el("strong", { textContent: entry.id }),
      ` · ${ROLES[entry.role] ?? entry.role} · ${entry.driver} · ${TRANSPORTS[entry.transport] ?? entry.transport} · ${where(entry)}`);
    const remove = button("Quitar", `Quitar ${entry.id}`, () => {
      state.config = state.config.filter((e) => e !== entry);
      renderConfig();
      say("config-status", `Se quitó ${entry.id}: guarde la configuración para aplicarlo`);
    });
    list.append(el("li", { className: "tech-row" }, text, remove));
  }
}

async function loadConfig() {
  const file = await api("GET", "/devices");
  state.config = file.devices;
  say("config-path", `Archivo: ${file.path}${file.backup ? ` (copia anterior: ${file.backup})` : ""}`);
  if (file.problem) {
    $("config-error").textContent = file.problem;
    $("config-error").hidden = false;
  }
  renderConfig();
}

async function save() {
  $("config-error").hidden = true;
  say("config-status", "Guardando…");
  try {
    const saved = await api("PUT", "/devices", { devices: state.config });
    state.config = saved.devices;
    renderConfig();
    say("config-path", `Archivo: ${saved.path}${saved.backup ? ` (copia anterior: ${saved.backup})` : ""}`);
    say("config-status", "Configuración guardada. Presione Recargar equipos para usarla.");
  } catch (error) {
    say("config-status", "");
    $("config-error").textContent = error.message;
    $("config-error").hidden = false;
  }
}

async function reload() {
  $("config-error").hidden = true;
  say("config-status", "Recargando equipos…");
  try {
    const result = await api("POST", "/reload");
    const list = $("live-list");
    list.replaceChildren();
    for (const d of result.devices) {
      list.append(el("li", { className: "tech-row" },
        el("div", { className: "tech-entry" }, el("strong", { textContent: d.id }),
          ` · ${ROLES[d.role] ?? d.role} · ${STATES[d.state] ?? d.state}${d.message ? ` · ${d.message}` : ""}`)));
    }
    $("live-panel").hidden = false;
    say("config-status", `Equipos recargados: ${result.devices.length} en uso, sin reiniciar el servicio.`);
  } catch (error) {
    say("config-status", "");
    $("config-error").textContent = error.message;
    $("config-error").hidden = false;
  }
}

// ------------------------------------------------------------------ scan and identify

function configuredAt(location) {
  return state.config.find((e) => where(e) === location);
}

function choose(candidate) {
  state.candidate = candidate;
  const existing = configuredAt(candidate.location);
  say("cand-driver", candidate.driver);
  say("cand-transport", TRANSPORTS[candidate.transport] ?? candidate.transport);
  say("cand-location", candidate.location);
  say("cand-evidence", candidate.message ?? "");
  $("cand-role").value = existing?.role ?? candidate.role ?? "scale";
  $("cand-id").value = existing?.id ?? DEFAULT_IDS[$("cand-role").value];
  $("test-result").hidden = true;
  say("test-status", "");
  $("candidate-panel").hidden = false;
  $("cand-id").focus();
}

async function identify(path) {
  say("scan-status", `Identificando ${path}…`);
  try {
    const found = await api("POST", "/identify", { path });
    say("scan-status", found.message);
    if (found.identified) choose(found);
  } catch (error) {
    say("scan-status", error.message);
  }
}

function renderScan(result) {
  const serial = $("serial-list");
  serial.replaceChildren();
  if (result.serial.length === 0) {
    serial.append(el("li", { className: "note", textContent: "No se encontró ningún puerto serie." }));
  }
  for (const port of result.serial) {
    const notes = [port.description, port.configured_as ? `configurado como ${port.configured_as}` : "",
      port.present ? "" : "no existe"].filter(Boolean).join(" · ");
    const item = el("li", { className: "tech-row" },
      el("div", { className: "tech-entry" }, el("strong", { textContent: port.path }), notes ? ` · ${notes}` : ""));
    if (port.present) item.append(button("Identificar", `Identificar ${port.path}`, () => identify(port.path)));
    serial.append(item);
  }
  const ble = $("ble-list");
  ble.replaceChildren();
  if (result.ble_error) ble.append(el("li", { className: "field-error", textContent: result.ble_error }));
  else if (result.ble.length === 0) {
    ble.append(el("li", { className: "note", textContent: "No se escuchó ningún equipo Bluetooth." }));
  }
  for (const adv of result.ble) {
    const kind = adv.driver ? `${ROLES[adv.role]} (${adv.driver})` : "tipo desconocido";
    const notes = [kind, adv.configured_as ? `configurado como ${adv.configured_as}` : ""].filter(Boolean).join(" · ");
    const item = el("li", { className: "tech-row" },
      el("div", { className: "tech-entry" }, el("strong", { textContent: adv.name ?? adv.address }),
        ` · ${adv.address} · ${notes}`));
    if (adv.driver) {
      item.append(button("Usar este equipo", `Usar ${adv.name ?? adv.address}`, () => choose({
        driver: adv.driver, transport: "ble", role: adv.role, location: adv.address, name: adv.name,
        options: {}, message: `Equipo identificado: ${adv.driver}. Anuncia el servicio Bluetooth de ${ROLES[adv.role].toLowerCase()}.`,
      })));
    }
    ble.append(item);
  }
  $("found").hidden = false;
}

async function scan(event) {
  event.preventDefault();
  $("scan").disabled = true;
  say("scan-status", "Buscando equipos…");
  const paths = $("paths").value.split("\n").map((p) => p.trim()).filter(Boolean);
  try {
    const result = await api("POST", "/scan", { paths, bluetooth: $("bluetooth").checked, ble_timeout_s: 2 });
    renderScan(result);
    say("scan-status", `Encontrados: ${result.serial.length} puertos serie y ${result.ble.length} equipos Bluetooth.`);
  } catch (error) {
    say("scan-status", error.message);
  } finally {
    $("scan").disabled = false;
  }
}

// ------------------------------------------------------------------ test reading and assigning

function candidateEntry() {
  const c = state.candidate;
  const existing = configuredAt(c.location);
  const entry = {
    id: $("cand-id").value.trim(),
    role: $("cand-role").value,
    driver: c.driver,
    transport: c.transport,
    timeout_s: existing?.timeout_s ?? 30,
    options: { ...(existing?.options ?? {}), ...(c.options ?? {}) },
  };
  if (c.transport === "ble") {
    entry.address = c.location;
    if (c.name) entry.name = c.name;
  } else {
    entry.port = c.location;
  }
  return entry;
}

function shown(m) {
  const name = KINDS[m.kind] ?? m.kind;
  // with exactly the digits the device reported (72.40 kg), when it says
  const digits = m.decimals === null || m.decimals === undefined ? {} : { minimumFractionDigits: m.decimals, maximumFractionDigits: m.decimals };
  const value = m.value === null ? (m.special ?? "sin valor") : m.value.toLocaleString("es-MX", digits);
  return `${name}: ${value} ${UNITS[m.unit] ?? m.unit}`;
}

async function testReading() {
  $("test").disabled = true;
  $("test-result").hidden = true;
  say("test-status", "Tomando una lectura de prueba: haga la medición en el equipo…");
  try {
    const result = await api("POST", "/test-reading", candidateEntry());
    say("test-values", result.measurements.map(shown).join(" · ") || "El equipo no envió valores");
    say("test-time", result.device_time
      ? `Hora del equipo: ${result.device_time.replace("T", " ")}`
      : "El equipo no envía su hora");
    $("test-result").hidden = false;
    say("test-status", "Lectura de prueba recibida.");
  } catch (error) {
    say("test-status", error.message);
  } finally {
    $("test").disabled = false;
  }
}

function addCandidate() {
  const entry = candidateEntry();
  const replaced = state.config.filter((e) => where(e) === where(entry) || e.id === entry.id);
  state.config = [...state.config.filter((e) => !replaced.includes(e)), entry];
  renderConfig();
  const note = replaced.length ? ` (reemplaza a ${replaced.map((e) => e.id).join(", ")})` : "";
  say("config-status", `${entry.id} agregado${note}: guarde la configuración para aplicarlo`);
  $("save").focus();
}

// ------------------------------------------------------------------ start

$("scan-form").addEventListener("submit", scan);
$("test").addEventListener("click", testReading);
$("add").addEventListener("click", addCandidate);
$("save").addEventListener("click", save);
$("reload").addEventListener("click", reload);
$("cand-role").addEventListener("change", () => {
  if (Object.values(DEFAULT_IDS).includes($("cand-id").value)) $("cand-id").value = DEFAULT_IDS[$("cand-role").value];
});
loadConfig().catch(banner);
