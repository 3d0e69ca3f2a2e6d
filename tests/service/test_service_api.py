"""Health, devices, sync, OpenAPI, the kiosk's static files, and the classify router."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import running_app
from tests.service.support import API, simulated, with_devices


async def test_health_devices_sync_docs_and_kiosk(tmp_path: Path, database_url: str):
    async with running_app(simulated(tmp_path, database_url=database_url)) as (_, client):
        health = (await client.get(f"{API}/health")).json()
        assert health["status"] == "ok"
        assert health["database"] == "ok"
        assert set(health["devices"]) >= {"bascula", "baumanometro"}

        devices = (await client.get(f"{API}/devices")).json()
        assert {d["id"] for d in devices} == set(health["devices"])
        for d in devices:
            assert set(d) >= {"id", "role", "driver", "transport", "state", "last_seen", "message"}
            assert d["state"] == "ready"

        sync = (await client.get(f"{API}/sync")).json()
        assert (sync["pending"], sync["sent"], sync["rejected"], sync["last_error"]) == (
            0,
            0,
            0,
            None,
        )
        assert sync["available"] is True

        docs = await client.get("/docs")
        assert docs.status_code == 200
        schema = (await client.get("/openapi.json")).json()
        paths = set(schema["paths"])
        assert paths >= {
            f"{API}/health",
            f"{API}/devices",
            f"{API}/patients",
            f"{API}/patients/{{patient_id}}",
            f"{API}/screenings",
            f"{API}/screenings/{{screening_id}}",
            f"{API}/screenings/{{screening_id}}/measure",
            f"{API}/screenings/{{screening_id}}/events",
            f"{API}/screenings/{{screening_id}}/measurements",
            f"{API}/screenings/{{screening_id}}/complete",
            f"{API}/sync",
        }
        events = schema["paths"][f"{API}/screenings/{{screening_id}}/events"]["get"]
        assert "text/event-stream" in events["responses"]["200"]["content"]
        measure = schema["paths"][f"{API}/screenings/{{screening_id}}/measure"]["post"]
        assert "202" in measure["responses"]
        for name in ("PatientCreate", "ScreeningCreate", "ManualEntry", "MeasureRequest"):
            assert schema["components"]["schemas"][name]["additionalProperties"] is False

        page = await client.get("/")
        assert page.status_code == 200
        assert '<html lang="es-MX">' in page.text
        for asset in ("app.js", "app.css", "i18n.js"):
            resp = await client.get(f"/{asset}")
            assert resp.status_code == 200, asset
            assert "http://" not in resp.text
            assert "https://" not in resp.text
        assert "//" not in page.text.replace("<!doctype html>", "")


async def test_classify_router_is_mounted(tmp_path: Path):
    async with running_app(with_devices(tmp_path, tmp_path / "none.toml")) as (_, client):
        schema = (await client.get("/openapi.json")).json()
        assert f"{API}/classify" in schema["paths"]
        resp = await client.post(
            f"{API}/classify", json={"sex": "female", "weight_kg": 76.8, "height_cm": 160}
        )
        assert resp.status_code == 200
        assert resp.json()["bmi"] == 30.0
