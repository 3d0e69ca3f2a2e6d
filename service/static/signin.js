// Sign-in screen, also the kiosk's lock screen: POST /api/v1/session sets the HttpOnly
// session cookie, then the kiosk opens where it was (the #/screenings/N kept in the address).
//   ?reason=lock      the kiosk locked after inactivity: the same nurse types her PIN
//   ?reason=switch    "Cambiar de enfermera": the next nurse signs in, the screening stays
//   ?reason=sign_out  "Cerrar sesión"
//   ?reason=expired   the service ended the session (inactivity, restart)
// The kiosk left its page before coming here, so no patient datum is in this one.
const form = document.getElementById("signin");
const error = document.getElementById("signin-error");
const note = document.getElementById("signin-note");
const heading = document.getElementById("h-signin");
const submit = document.getElementById("signin-submit");
const other = document.getElementById("signin-other");

const MODES = {
  lock: {
    heading: "Pantalla bloqueada",
    note: "La pantalla se bloqueó por inactividad para proteger los datos de los pacientes. Escriba su PIN para continuar donde estaba.",
    button: "Desbloquear",
  },
  switch: {
    heading: "Cambiar de enfermera",
    note: "Se cerró la sesión anterior. El tamizaje abierto sigue igual: la siguiente enfermera inicia sesión para continuarlo.",
  },
  sign_out: { heading: "Sesión cerrada", note: "Inicie sesión para atender pacientes." },
  expired: {
    heading: "Sesión terminada",
    note: "La sesión terminó por inactividad. Escriba su PIN para continuar donde estaba.",
  },
};

const reason = new URLSearchParams(window.location.search).get("reason");
const mode = MODES[reason] || null;
let locked = null;
try {
  locked = JSON.parse(sessionStorage.getItem("mido.locked") || "null");
} catch {
  locked = null;
}

// the kiosk's session ends here, before anyone can sign in (the sign-out is audited)
const signedOut = ["lock", "switch", "sign_out"].includes(reason)
  ? fetch(`/api/v1/session?reason=${reason}`, { method: "DELETE" }).catch(() => null)
  : Promise.resolve(null);

function anotherNurse() {
  locked = null;
  sessionStorage.removeItem("mido.locked");
  heading.textContent = MODES.switch.heading;
  note.textContent = MODES.switch.note;
  submit.textContent = "Entrar";
  form.username.value = "";
  form.pin.value = "";
  other.hidden = true;
  form.username.focus();
}

if (mode) {
  heading.textContent = mode.heading;
  note.textContent = mode.note;
  if (mode.button) submit.textContent = mode.button;
}
if (locked && (reason === "lock" || reason === "expired")) {
  note.textContent = `${locked.name}: ${mode.note.charAt(0).toLowerCase()}${mode.note.slice(1)}`;
  form.username.value = locked.username;
  other.hidden = false;
  form.pin.focus();
} else {
  form.username.focus();
}
other.addEventListener("click", anotherNurse);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  await signedOut;
  const body = {
    username: form.username.value.trim().toLowerCase(),
    pin: form.pin.value.trim(),
  };
  let message = "No se pudo conectar con el carrito: intente de nuevo";
  try {
    const resp = await fetch("/api/v1/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (resp.ok) {
      sessionStorage.removeItem("mido.locked");
      // back to where the kiosk was (the redirect here kept its #/screenings/N)
      window.location.assign("/" + window.location.hash);
      return;
    }
    const data = await resp.json().catch(() => ({}));
    message = data?.detail?.nurse_message ?? "Usuario o PIN incorrectos";
  } catch {
    // network error: keep the connection message
  }
  form.pin.value = "";
  error.textContent = message;
  error.hidden = false;
  form.pin.focus();
});
