"""``GET /screenings/{id}/summary``: the patient's printable summary (Spanish HTML).

Served outside ``/api/v1`` (it is a page, not data). ``?paper=letter`` (default), ``a4``
or ``receipt`` (an 80 mm thermal roll) picks the print layout; the page prints itself
only when the nurse presses the button.
"""

from __future__ import annotations

import asyncio
import socket
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse

from cart.errors import ValidationError
from cart.store.models import MeasurementRecord, ScreeningStatus
from service.api.deps import ScreeningId, StateDep
from service.classification import classify_screening
from service.state import CartState

router = APIRouter(tags=["summary"])

Paper = Literal["letter", "a4", "receipt"]

#: label, unit and the decimals shown when the reading does not say (rows stored before
#: precision was kept); a reading that does is shown with exactly its own
KINDS_ES = {
    "body_weight": ("Peso", "kg", 1),
    "body_height": ("Estatura", "cm", 1),
    "waist_circumference": ("Cintura", "cm", 1),
    "systolic_pressure": ("Presión sistólica", "mmHg", 0),
    "diastolic_pressure": ("Presión diastólica", "mmHg", 0),
    "pulse_rate": ("Pulso", "lpm", 0),
    "glucose": ("Glucosa", "mg/dL", 0),
}
CONDITIONS_ES = {"obesity": "Obesidad", "hypertension": "Hipertensión", "diabetes": "Diabetes"}
DOMAINS_ES = {
    "healthy": ("Sano", "green", "●"),
    "known_controlled": ("Controlado", "green", "●"),
    "at_risk": ("En riesgo", "amber", "▲"),
    "probable_disease": ("Probable enfermedad", "red", "■"),
    "known_uncontrolled": ("Descontrolado", "red", "■"),
    "needs_evaluation": ("Requiere evaluación", "red", "■"),
}
PAGES = {"letter": "letter", "a4": "A4", "receipt": "80mm auto"}

CSS = """
body { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; color: #000; margin: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; } h2 { font-size: 1.15rem; margin: 1rem 0 .3rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .25rem .4rem;
border-bottom: 1px solid #555; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.light { border: 2px solid #000; border-radius: 8px; padding: .4rem .6rem; margin: .4rem 0; }
.light-green { background: #dff3e6; } .light-amber { background: #ffefc2; }
.light-red { background: #fde2e2; } .light-gray { background: #ececec; }
.urgent { border: 4px solid #4b0f73; background: #f1e6fa; padding: .5rem .8rem; font-weight: 700; }
.meta { margin: .1rem 0; } .actions { margin: 1rem 0; display: flex; gap: .6rem; flex-wrap: wrap; }
.actions a, .actions button { font-size: 1rem; padding: .6rem 1rem; border: 3px solid #0a3d8f;
border-radius: 8px; background: #fff; color: #0a3d8f; font-weight: 700; text-decoration: none; }
.actions button { background: #0a3d8f; color: #fff; }
@media print { .actions { display: none; } body { margin: 0; } }
"""
RECEIPT_CSS = """
body { width: 72mm; margin: 0 auto; font-size: 11pt; } h1 { font-size: 13pt; }
h2 { font-size: 11pt; } th, td { padding: 1mm 0; } .light { padding: 1mm 2mm; }
"""


def _fmt(value: float | None, decimals: int) -> str:
    """``value`` with exactly ``decimals`` digits after a '.' (72.40), thousands apart."""
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}".replace(",", " ")


def _when(record: MeasurementRecord, zone: Any) -> str:
    at = record.measured_at or record.received_at
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def _text(item: dict[str, Any]) -> str:
    text = item.get("text")
    return str(text.get("es", "")) if isinstance(text, dict) else ""


def render(state: CartState, screening_id: int, paper: Paper) -> str | None:
    store = state.store
    row = store.get_screening(screening_id)
    if row is None or row.id is None:
        return None
    patient = store.get_patient(row.patient_id) if row.patient_id is not None else None
    records = store.measurements_of(row.id)
    classification = row.classification
    if row.status != ScreeningStatus.COMPLETED:
        try:
            classification = classify_screening(row, patient, records, state.settings)
        except ValidationError:
            classification = None
    zone = state.settings.zone
    latest: dict[str, MeasurementRecord] = {}
    for r in records:
        if r.value is not None:
            latest[r.kind] = r
    out: list[str] = []
    e = escape
    when = (row.completed_at or row.created_at).astimezone(zone)
    out.append("<h1>Resumen del tamizaje</h1>")
    if patient is not None:
        out.append(f'<p class="meta"><strong>{e(patient.given_name)} {e(patient.family_name)}')
        out.append(f"</strong> · CURP {e(patient.curp)}</p>")
    out.append(
        f'<p class="meta">Fecha: {when.strftime("%d/%m/%Y %H:%M")} · Carrito: '
        f"{e(socket.gethostname())} · Tamizaje {row.id}"
        f"{'' if row.status == ScreeningStatus.COMPLETED else ' · (sin guardar)'}</p>"
    )
    overall = classification.get("overall", {}) if classification else {}
    if overall.get("urgent_attention"):
        alerts = [a for a in classification.get("alerts", []) if a.get("severity") == "urgent"]  # type: ignore[union-attr]
        items = "".join(f"<li>{e(_text(a))}</li>" for a in alerts)
        out.append(
            '<div class="urgent" role="alert">⚠ Atención urgente: acuda hoy mismo con el '
            f"médico.<ul>{items}</ul></div>"
        )
    out.append("<h2>Mediciones</h2><table><thead><tr><th>Medida</th><th>Valor</th>")
    out.append("<th>Hora</th></tr></thead><tbody>")
    for kind, (label, unit, usual) in KINDS_ES.items():
        shown = latest.get(kind)
        if shown is None:
            continue
        decimals = usual if shown.decimals is None else shown.decimals
        note = " (capturado a mano)" if shown.manual_entry else ""
        out.append(
            f'<tr data-kind="{kind}"><td>{label}{note}</td>'
            f'<td class="num">{_fmt(shown.value, decimals)} {unit}</td>'
            f"<td>{_when(shown, zone)}</td></tr>"
        )
    out.append("</tbody></table>")
    if classification:
        out.append("<h2>Resultado</h2>")
        recs = classification.get("recommendations", [])
        for condition, name in CONDITIONS_ES.items():
            label, colour, symbol = DOMAINS_ES.get(
                str(overall.get(condition)), ("Faltan datos", "gray", "○")
            )
            advice = "".join(
                f"<li>{e(_text(r))}</li>" for r in recs if r.get("domain") == condition
            )
            out.append(
                f'<div class="light light-{colour}" data-condition="{condition}">'
                f"<strong>{name}: {symbol} {label}</strong>"
                f"{f'<ul>{advice}</ul>' if advice else ''}</div>"
            )
    if classification:
        notes = [str(q.get("message_es", "")) for q in classification.get("data_quality", [])]
        notes += [
            _text(a) for a in classification.get("alerts", []) if a.get("severity") != "urgent"
        ]
        if any(notes):
            items = "".join(f"<li>{e(n)}</li>" for n in notes if n)
            out.append(f'<h2>Avisos</h2><ul class="notes">{items}</ul>')
    body = "".join(out)
    page = PAGES[paper]
    css = CSS + (RECEIPT_CSS if paper == "receipt" else "") + f"@page {{ size: {page}; margin: "
    css += "4mm; }" if paper == "receipt" else "15mm; }"
    links = " ".join(
        f'<a href="?paper={p}">{label}</a>'
        for p, label in (("letter", "Carta"), ("a4", "A4"), ("receipt", "Recibo 80 mm"))
        if p != paper
    )
    return (
        '<!doctype html><html lang="es-MX"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="/favicon.svg" type="image/svg+xml">'
        f"<title>Resumen del tamizaje {row.id}</title><style>{css}</style></head><body>"
        f'<main data-paper="{paper}">{body}'
        '<div class="actions"><button type="button" onclick="window.print()">Imprimir</button>'
        f"{links}</div></main></body></html>"
    )


@router.get("/screenings/{screening_id}/summary", response_class=HTMLResponse)
async def summary(
    screening_id: ScreeningId, state: StateDep, paper: Annotated[Paper, Query()] = "letter"
) -> HTMLResponse:
    html = await asyncio.to_thread(render, state, screening_id, paper)
    if html is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"screening {screening_id} not found")
    return HTMLResponse(html)


__all__ = ["render", "router"]
