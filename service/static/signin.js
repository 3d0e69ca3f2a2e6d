// Sign-in screen: POST /api/v1/session sets the HttpOnly session cookie, then the kiosk opens.
const form = document.getElementById("signin");
const error = document.getElementById("signin-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
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
