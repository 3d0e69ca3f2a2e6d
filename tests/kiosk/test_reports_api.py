"""The worklist, history, indicators and summary endpoints (issue 13), over the real app
with its lifespan and a SQLite file: local days, status filters, the counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import select

from cart.store.models import MeasurementRecord, Screening
from cart.store.reports import TRENDED
from tests.helpers import running_app
from tests.service.support import API, PATIENT, curp, with_devices

ROSA: dict[str, Any] = {
    "curp": curp("MALR600305MOCRPS0"),
    "given_name": "Rosa",
    "family_name": "Martínez López",
    "birth_date": "1960-03-05",
    "sex": "female",
}
FULL = {
    "body_weight": (80.0, "kg"),
    "body_height": (160.0, "cm"),
    "waist_circumference": (95.0, "cm"),
    "systolic_pressure": (125.0, "mm[Hg]"),
    "diastolic_pressure": (80.0, "mm[Hg]"),
    "glucose": (95.0, "mg/dL"),
}


async def _screening(
    client: httpx.AsyncClient,
    patient_id: int,
    values: dict[str, tuple[float, str]] | dict[str, tuple[float, str, int]],
) -> int:
    """A screening with ``values`` typed in: ``(value, unit)`` or ``(value, unit, decimals)``."""
    sid: int = (await client.post(f"{API}/screenings", json={"patient_id": patient_id})).json()[
        "id"
    ]
    for kind, (value, unit, *places) in values.items():
        body: dict[str, Any] = {"kind": kind, "value": value, "unit": unit}
        if places:
            body["decimals"] = places[0]
        r = await client.post(f"{API}/screenings/{sid}/measurements", json=body)
        assert r.status_code == 201, r.text
    return sid


def _move(app: Any, sid: int, when: datetime) -> None:
    """Back-date a screening (a visit of another day)."""
    with app.state.cart.store.session() as s:
        row = s.get(Screening, sid)
        row.created_at = when
        s.add(row)
        s.commit()


async def test_worklist_history_and_indicators(tmp_path: Path) -> None:
    settings = with_devices(tmp_path, tmp_path / "none.toml")
    async with running_app(settings) as (app, client):
        lucia = (await client.post(f"{API}/patients", json=PATIENT)).json()["id"]
        rosa = (await client.post(f"{API}/patients", json=ROSA)).json()["id"]
        full = await _screening(client, lucia, FULL)
        assert (await client.post(f"{API}/screenings/{full}/complete")).status_code == 200
        partial = await _screening(client, rosa, {"body_weight": (70.0, "kg")})
        assert (await client.post(f"{API}/screenings/{partial}/complete")).status_code == 200
        urgent = await _screening(client, rosa, {"glucose": (320.0, "mg/dL")})  # left open
        # 23:30 in Mexico City on 10 March is 05:30 UTC on the 11th: the 10th's worklist
        old = await _screening(client, rosa, {"body_weight": (72.0, "kg")})
        _move(app, old, datetime(2026, 3, 11, 5, 30, tzinfo=UTC))

        today = (await client.get(f"{API}/screenings")).json()
        assert [r["id"] for r in today] == [full, partial, urgent]
        assert today[0]["patient"]["given_name"] == "Lucía"
        assert today[0]["sic"] == "pending"
        assert today[0]["values"]["bmi"] == 31.2
        assert today[2]["status"] == "open"
        assert today[2]["urgent"] is True

        async def ids(query: str) -> list[int]:
            return [r["id"] for r in (await client.get(f"{API}/screenings?{query}")).json()]

        assert await ids("status=open") == [urgent]
        assert await ids("status=completed") == [full, partial]
        assert await ids("status=urgent") == [urgent]
        assert await ids("status=unsent") == [full, partial]
        assert await ids("status=rejected") == []
        # SIC refuses Lucía's: she moves from "unsent" to "rejected"
        store = app.state.cart.store
        (entry,) = [e for e in store.outbox_due(datetime.now(UTC)) if e.screening_id == full]
        assert entry.id is not None
        store.outbox_reject(entry.id, error="invalid CURP", status_code=422, outcome=None)
        assert await ids("status=rejected") == [full]
        assert await ids("status=unsent") == [partial]
        assert await ids("date=2026-03-10") == [old]
        assert await ids("date=2026-03-11") == []
        bad = await client.get(f"{API}/screenings?status=lost")
        assert bad.status_code == 422

        history = (await client.get(f"{API}/patients/{rosa}/screenings")).json()
        assert [r["id"] for r in history] == [urgent, partial, old]  # newest first
        # a weight without a height classifies nothing; Lucía's full screening does
        assert history[1]["overall"]["obesity"] is None
        assert history[1]["overall"]["urgent_attention"] is False
        assert today[0]["overall"]["obesity"] == "probable_disease"
        assert today[0]["overall"]["hypertension"] == "healthy"
        missing = await client.get(f"{API}/patients/999/screenings")
        assert missing.status_code == 404
        assert "paciente" in missing.json()["detail"]["nurse_message"]

        day = datetime.now(settings.zone).date().isoformat()
        ind = (await client.get(f"{API}/indicators?from={day}&to={day}")).json()
        assert ind["screenings"] == 3
        assert ind["completed"] == 2
        assert ind["complete"] == 1  # only Lucía's has all six values
        assert ind["complete_pct"] == 50.0
        assert ind["at_risk"]["obesity"] == 1  # BMI 31.2
        assert ind["urgent"] == 0  # the urgent one is still open
        assert ind["sic"] == {"pending": 1, "sent": 0, "rejected": 1}
        assert ind["per_day"] == [{"date": day, "screenings": 3}]
        march = (await client.get(f"{API}/indicators?from=2026-03-09&to=2026-03-11")).json()
        assert [d["screenings"] for d in march["per_day"]] == [0, 1, 0]
        backwards = await client.get(f"{API}/indicators?from=2026-03-11&to=2026-03-09")
        assert backwards.status_code == 422
        assert "Revise las fechas" in backwards.json()["detail"][0]["nurse_message"]
        # the ends of the calendar are refused, not a 500 from local-midnight arithmetic
        far = await client.get(f"{API}/indicators?from=9999-12-31&to=9999-12-31")
        assert far.status_code == 422
        assert (await client.get(f"{API}/screenings?date=9999-12-31")).status_code == 422
        assert (await client.get(f"{API}/screenings?date=0001-01-01")).status_code == 422


async def test_summary_page(tmp_path: Path) -> None:
    settings = with_devices(tmp_path, tmp_path / "none.toml")
    async with running_app(settings) as (_, client):
        lucia = (await client.post(f"{API}/patients", json=PATIENT)).json()["id"]
        sid = await _screening(client, lucia, FULL)
        unsaved = (await client.get(f"/screenings/{sid}/summary")).text
        assert "(sin guardar)" in unsaved
        assert (await client.post(f"{API}/screenings/{sid}/complete")).status_code == 200
        page = await client.get(f"/screenings/{sid}/summary")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert '<html lang="es-MX">' in html
        assert "Lucía Hernández Prieto" in html
        assert '<td class="num">80 kg</td>' in html  # typed as 80.0 in JSON: no decimals
        assert "125 mmHg" in html
        assert "<strong>Obesidad: ■ Probable enfermedad</strong>" in html
        assert "<strong>Hipertensión: ● Sano</strong>" in html
        # typed by hand: one BP reading of the two NOM-030 asks, said on the print-out too
        assert "Presión arterial con 1 de 2 lecturas requeridas" in html
        assert "@page { size: letter" in html
        assert "@media print" in html
        assert "(sin guardar)" not in html
        a4 = (await client.get(f"/screenings/{sid}/summary?paper=a4")).text
        assert "@page { size: A4" in a4
        receipt = (await client.get(f"/screenings/{sid}/summary?paper=receipt")).text
        assert "@page { size: 80mm auto" in receipt
        assert "width: 72mm" in receipt
        assert (await client.get(f"/screenings/{sid}/summary?paper=legal")).status_code == 422
        assert (await client.get("/screenings/999/summary")).status_code == 404


def _row(html: str, kind: str) -> str:
    """The value cell of ``kind``'s line in a summary page."""
    start = html.index(f'<tr data-kind="{kind}">')
    cell = html.index('<td class="num">', start) + len('<td class="num">')
    return html[cell : html.index("</td>", cell)]


async def test_values_keep_the_reported_decimals(tmp_path: Path) -> None:
    """The print-out and the worklist show each value with exactly the digits its device
    (or the nurse) reported: 72.40 kg stays 72.40, 105 mg/dL stays 105; a converted value
    has its converted precision and no float noise; an older row without decimals is shown
    as before, and the computed BMI keeps its one decimal."""
    settings = with_devices(tmp_path, tmp_path / "none.toml")
    async with running_app(settings) as (app, client):
        lucia = (await client.post(f"{API}/patients", json=PATIENT)).json()["id"]
        rosa = (await client.post(f"{API}/patients", json=ROSA)).json()["id"]
        exact = await _screening(
            client,
            lucia,
            {
                "body_weight": (72.4, "kg", 2),
                "body_height": (160.0, "cm", 1),
                "waist_circumference": (94.0, "cm", 0),
                "systolic_pressure": (120.0, "mm[Hg]", 0),
                "diastolic_pressure": (80.0, "mm[Hg]", 1),
                "glucose": (105.0, "mg/dL", 0),
            },
        )
        # 159.6 lb at 0.1 lb is 72.39 kg at 0.01 kg (72.3933... computed)
        pounds = await _screening(client, rosa, {"body_weight": (159.6, "[lb_av]", 1)})
        older = await _screening(client, rosa, {"body_weight": (72.4, "kg", 2)})
        with app.state.cart.store.session() as s:  # a row stored before decimals were kept
            query = select(MeasurementRecord).where(MeasurementRecord.screening_id == older)
            (row,) = s.exec(query)
            row.decimals = None
            s.add(row)
            s.commit()

        html = (await client.get(f"/screenings/{exact}/summary")).text
        shown = {kind: _row(html, kind) for kind in TRENDED}
        assert shown == {
            "body_weight": "72.40 kg",
            "body_height": "160.0 cm",
            "waist_circumference": "94 cm",
            "systolic_pressure": "120 mmHg",
            "diastolic_pressure": "80.0 mmHg",
            "glucose": "105 mg/dL",
        }
        assert _row((await client.get(f"/screenings/{pounds}/summary")).text, "body_weight") == (
            "72.39 kg"
        )
        assert _row((await client.get(f"/screenings/{older}/summary")).text, "body_weight") == (
            "72.4 kg"  # no decimals known: one, as before
        )

        today = {r["id"]: r for r in (await client.get(f"{API}/screenings")).json()}
        assert today[exact]["values"]["body_weight"] == 72.4
        assert today[exact]["values"]["bmi"] == 28.3
        assert today[exact]["decimals"] == {  # no bmi: computed, not reported
            "body_weight": 2,
            "body_height": 1,
            "waist_circumference": 0,
            "systolic_pressure": 0,
            "diastolic_pressure": 1,
            "glucose": 0,
        }
        assert today[pounds]["values"] == {"body_weight": 72.39}
        assert today[pounds]["decimals"] == {"body_weight": 2}
        assert today[older]["decimals"] == {}
        history = (await client.get(f"{API}/patients/{rosa}/screenings")).json()
        assert [r["decimals"] for r in history] == [{}, {"body_weight": 2}]
