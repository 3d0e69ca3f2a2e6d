"""Technician mode over the API, against real simulators (ptys, pymodbus, bumble BLE).

Scan, identify, take a test reading, save devices.toml and reload the drivers without a
restart; roles (a nurse gets 403, nobody 401); a reload refused while a run row is
active; a meter's records downloaded by a test reading never attributed to a patient.
"""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from cart import wallclock
from cart.devices import DeviceConfig, Role, load_devices
from cart.store.models import SeenRecord
from simulators.serial_glucometer import GlucometerConfig, simulator_for
from simulators.serial_scale import ScaleConfig, SerialScaleSimulator
from tests.helpers import add_user, running_app, write_devices
from tests.service.support import API, measure, new_screening, simulated, with_devices

TECH = f"{API}/technician"


def _as(app: Any, client: httpx.AsyncClient, role: str | None) -> httpx.AsyncClient:
    """Another client on the same app, acting as ``role`` (None: nobody)."""
    headers = {} if role is None else {"Authorization": f"Bearer {add_user(app, role)}"}
    return httpx.AsyncClient(transport=client._transport, base_url=client.base_url, headers=headers)


def _scale(port: str, device_id: str = "bascula") -> DeviceConfig:
    return DeviceConfig(
        device_id,
        Role.SCALE,
        "and.weighing",
        "serial",
        port=port,
        timeout_s=3.0,
        options={"silence_s": 1.0},
    )


async def test_only_technicians_and_administrators(tmp_path):
    settings = with_devices(tmp_path, tmp_path / "devices.toml")
    async with running_app(settings, role="technician") as (app, tech):
        calls = [
            ("POST", "/scan", {"bluetooth": False}),
            ("POST", "/identify", {"path": "/dev/mido-none"}),
            (
                "POST",
                "/test-reading",
                {
                    "id": "b",
                    "role": "scale",
                    "driver": "and.weighing",
                    "transport": "serial",
                    "port": "/dev/mido-none",
                },
            ),
            ("GET", "/devices", None),
            ("PUT", "/devices", {"devices": []}),
            ("POST", "/reload", None),
        ]
        for who, expected in (("nurse", 403), (None, 401)):
            async with _as(app, tech, who) as other:
                for method, path, body in calls:
                    resp = await other.request(method, TECH + path, json=body)
                    assert resp.status_code == expected, (who, path, resp.text)
        async with _as(app, tech, "administrator") as admin:
            assert (await admin.get(f"{TECH}/devices")).status_code == 200
        resp = await tech.get(f"{TECH}/devices")
        assert resp.json() == {
            "path": str(tmp_path / "devices.toml"),
            "exists": False,
            "backup": None,
            "devices": [],
            "problem": None,
        }
        denied = app.state.cart.audit.events(0, 500)
        assert sum(e.action == "access_denied" for e in denied) == 12


async def test_scan_identify_test_save_and_reload_the_simulated_cart(tmp_path):
    settings = simulated(tmp_path)
    async with running_app(settings, role="technician") as (app, tech):
        before = {d.id: d for d in load_devices(settings.devices_file)}
        scale_port = before["bascula"].port
        rod_port = before["estadimetro"].port
        assert scale_port
        assert rod_port

        scan = await tech.post(
            f"{TECH}/scan", json={"paths": [scale_port, rod_port], "ble_timeout_s": 1.0}
        )
        assert scan.status_code == 200, scan.text
        ports = {p["path"]: p for p in scan.json()["serial"]}
        assert ports[scale_port]["source"] == "given"
        assert ports[scale_port]["configured_as"] == "bascula"
        ble = {a["driver"]: a for a in scan.json()["ble"]}
        assert ble["ble.blood_pressure"]["role"] == "bp"
        assert ble["ble.glucose"]["configured_as"] == "glucometro"

        scale = (await tech.post(f"{TECH}/identify", json={"path": scale_port})).json()
        assert (scale["identified"], scale["driver"], scale["role"]) == (
            True,
            "and.weighing",
            "scale",
        )
        rod = (await tech.post(f"{TECH}/identify", json={"path": rod_port})).json()
        assert (rod["driver"], rod["transport"], rod["role"]) == (
            "modbus.rtu",
            "modbus",
            "stadiometer",
        )
        assert rod["options"] == {"profile": "height_rod", "device_id": 1}
        assert rod["message"].startswith("Equipo identificado: modbus.rtu. El equipo respondió")

        entry = {
            "id": "bascula-nueva",
            "role": "scale",
            "driver": "and.weighing",
            "transport": "serial",
            "port": scale_port,
            "timeout_s": 5,
        }
        reading = await tech.post(f"{TECH}/test-reading", json=entry)
        assert reading.status_code == 200, reading.text
        (weight,) = reading.json()["measurements"]
        assert (weight["kind"], weight["value"], weight["unit"]) == ("body_weight", 72.4, "kg")
        assert weight["decimals"] == 2  # the simulated scale sends "+0072.40kg"
        assert reading.json()["remembered"] == 0  # a streaming scale has no memory

        # a Bluetooth meter's memory: downloaded, shown, remembered as the technician's
        meter = {
            "id": "glucometro",
            "role": "glucometer",
            "driver": "ble.glucose",
            "transport": "ble",
            "address": ble["ble.glucose"]["address"],
            "timeout_s": 10,
        }
        tested = (await tech.post(f"{TECH}/test-reading", json=meter)).json()
        assert [m["kind"] for m in tested["measurements"]] == ["glucose"]
        assert tested["device_time"] is not None
        assert tested["remembered"] == tested["records"] >= 1

        cuff = {
            "id": "bp2",
            "role": "bp",
            "driver": "ble.blood_pressure",
            "transport": "ble",
            "address": ble["ble.blood_pressure"]["address"],
            "timeout_s": 10,
        }
        rod_entry = {
            "id": "estadimetro",
            "role": "stadiometer",
            "driver": "modbus.rtu",
            "transport": "modbus",
            "port": rod_port,
            "options": rod["options"],
        }
        saved = await tech.put(f"{TECH}/devices", json={"devices": [entry, rod_entry, cuff]})
        assert saved.status_code == 200, saved.text
        path = settings.devices_file
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        backup = Path(saved.json()["backup"])
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert {d.id for d in load_devices(backup)} == set(before)
        written = tomllib.loads(path.read_text())["device"]
        assert [d["id"] for d in written] == ["bascula-nueva", "estadimetro", "bp2"]

        # the service still reads the old devices until the reload
        old = {d["id"] for d in (await tech.get(f"{API}/devices")).json()}
        assert old == set(before)
        reloaded = await tech.post(f"{TECH}/reload")
        assert reloaded.status_code == 200, reloaded.text
        now = {d["id"]: d for d in (await tech.get(f"{API}/devices")).json()}
        assert set(now) == {"bascula-nueva", "estadimetro", "bp2"}
        health = (await tech.get(f"{API}/health")).json()
        assert set(health["devices"]) == set(now)

        # the new drivers measure: a nurse reads the renamed scale and the new cuff
        async with _as(app, tech, "nurse") as nurse:
            sid = await new_screening(nurse)
            events = await measure(nurse, sid, ["bascula-nueva", "bp2"])
            done = {e.data["device_id"] for e in events if e.event == "done"}
            assert done == {"bascula-nueva", "bp2"}

        actions = [
            e for e in app.state.cart.audit.events(0, 500) if e.username == "test-technician"
        ]
        assert [e.action for e in actions] == [
            "device_scan",
            "device_identify",
            "device_identify",
            "device_test",
            "device_test",
            "devices_save",
            "devices_reload",
        ]
        assert "72.4" not in repr([(e.detail, e.object_id) for e in actions])


async def test_reload_waits_for_no_active_run(tmp_path):
    async with SerialScaleSimulator(ScaleConfig.fast(weight_kg=61.0)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        async with running_app(with_devices(tmp_path, devices), role="technician") as (app, tech):
            store = app.state.cart.store
            async with _as(app, tech, "nurse") as nurse:
                sid = await new_screening(nurse)
            run_id = store.start_run(sid, ["bascula"])  # a run row, as after "Medir"
            scan = (await tech.post(f"{TECH}/scan", json={"paths": [sim.port]})).json()
            assert "medición en curso" in scan["ble_error"]
            assert [p["path"] for p in scan["serial"] if p["source"] == "given"] == [sim.port]
            refused = await tech.post(f"{TECH}/reload")
            assert refused.status_code == 409
            assert refused.json()["detail"]["reason"] == "measuring"
            assert "medición en curso" in refused.json()["detail"]["nurse_message"]
            test = await tech.post(
                f"{TECH}/test-reading",
                json={
                    "id": "x",
                    "role": "scale",
                    "driver": "and.weighing",
                    "transport": "serial",
                    "port": sim.port,
                },
            )
            assert test.status_code == 409
            store.end_run(run_id)
            assert (await tech.post(f"{TECH}/reload")).status_code == 200

            # and the other way round: no "Medir" while a technician action holds the devices
            async with app.state.device_rig.busy, _as(app, tech, "nurse") as nurse:
                refused = await nurse.post(f"{API}/screenings/{sid}/measure")
                assert refused.status_code == 409, refused.text
                assert refused.json()["detail"]["reason"] == "device_setup"
                assert "técnico" in refused.json()["detail"]["nurse_message"]
            assert [r.status for r in store.runs_of(sid)] == ["finished", "cancelled"]
            assert store.get_screening(sid).active_run_id is None


async def test_invalid_devices_get_a_spanish_422_and_keep_the_file(tmp_path):
    async with SerialScaleSimulator(ScaleConfig.fast()) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        original = devices.read_bytes()
        async with running_app(with_devices(tmp_path, devices), role="technician") as (_, tech):
            cases = [
                (
                    {
                        "id": "e",
                        "role": "stadiometer",
                        "driver": "modbus.rtu",
                        "transport": "modbus",
                    },
                    "le falta el puerto serie",
                    "needs 'port'",
                ),
                (
                    {
                        "id": "e",
                        "role": "scale",
                        "driver": "acme.scale",
                        "transport": "serial",
                        "port": sim.port,
                    },
                    "no tiene controlador",
                    "no driver",
                ),
                (
                    {
                        "id": "e",
                        "role": "scale",
                        "driver": "and.weighing",
                        "transport": "serial",
                        "port": "/etc/passwd",
                    },
                    "no es un puerto serie",
                    "not a serial port",
                ),
                (
                    {
                        "id": "e",
                        "role": "scale",
                        "driver": "and.weighing",
                        "transport": "serial",
                        "port": sim.port,
                        "options": {"parity": "Q"},
                    },
                    "Revise las opciones",
                    "bad serial settings",
                ),
            ]
            for entry, spanish, english in cases:
                resp = await tech.put(f"{TECH}/devices", json={"devices": [entry]})
                assert resp.status_code == 422, resp.text
                (item,) = resp.json()["detail"]
                assert spanish in item["nurse_message"], item
                assert english in item["msg"], item
            for bad in ("/dev/pts/0\x00", "/dev/tty\nS0"):
                entry = {**cases[2][0], "port": bad}
                resp = await tech.put(f"{TECH}/devices", json={"devices": [entry]})
                assert resp.status_code == 422, resp.text
                resp = await tech.post(f"{TECH}/identify", json={"path": bad})
                assert resp.status_code == 404, resp.text
            newline = {**cases[3][0], "options": {}, "name": "a\nb"}
            resp = await tech.put(f"{TECH}/devices", json={"devices": [newline]})
            assert resp.status_code == 422, resp.text
            missing = {**cases[1][0], "driver": "and.weighing", "port": "/dev/mido-no-such-port"}
            refused = await tech.post(f"{TECH}/test-reading", json=missing)
            assert refused.status_code == 503
            assert refused.json()["detail"]["type"] == "DeviceNotFound"
            assert refused.json()["detail"]["nurse_message"]
            gone = await tech.post(f"{TECH}/identify", json={"path": "/dev/mido-no-such-port"})
            assert gone.status_code == 404
            assert gone.json()["detail"]["type"] == "DeviceNotFound"
            twice = {
                "id": "a",
                "role": "scale",
                "driver": "and.weighing",
                "transport": "serial",
                "port": sim.port,
            }
            resp = await tech.put(f"{TECH}/devices", json={"devices": [twice, twice]})
            assert "está repetido" in resp.json()["detail"][0]["nurse_message"]
        assert devices.read_bytes() == original
        assert not (tmp_path / "devices.toml.bak").exists()


async def test_a_meters_test_reading_is_never_a_patients(tmp_path):
    """The test downloads the meter's memory: those records are remembered as the
    technician's, the clock is left alone even where setting it is allowed, and the next
    screening is told to measure again instead of taking the technician's value."""
    config = GlucometerConfig.fast(clock_skew_s=2 * 86400)
    async with simulator_for("onetouch.ultra2", config) as sim:
        meter = DeviceConfig(
            "glucometro",
            Role.GLUCOMETER,
            "onetouch.ultra2",
            "serial",
            port=sim.port,
            timeout_s=3.0,
        )
        devices = write_devices(tmp_path / "devices.toml", [meter])
        settings = with_devices(tmp_path, devices, set_device_clocks=True)
        async with running_app(settings, role="technician") as (app, tech):
            entry = {
                "id": "glucometro",
                "role": "glucometer",
                "driver": "onetouch.ultra2",
                "transport": "serial",
                "port": sim.port,
                "timeout_s": 3,
            }
            resp = await tech.post(f"{TECH}/test-reading", json=entry)
            assert resp.status_code == 200, resp.text
            shown = resp.json()
            assert [(m["kind"], m["value"]) for m in shown["measurements"]] == [("glucose", 104)]
            assert (shown["records"], shown["remembered"]) == (4, 4)
            assert shown["device_time"] is not None
            assert shown["clock_offset_s"] == pytest.approx(2 * 86400, abs=120)
            # read, never set (the service's set_device_clocks=true is for screenings)
            assert abs((sim.meter_now() - wallclock.now()).total_seconds() - 2 * 86400) < 61
            with app.state.cart.store.session() as s:
                outcomes = {r.outcome for r in s.exec(select(SeenRecord))}
            assert outcomes == {"technician_test"}

            async with _as(app, tech, "nurse") as nurse:
                sid = await new_screening(nurse)
                events = await measure(nurse, sid, ["glucometro"])
                (error,) = [e for e in events if e.event == "error"]
                assert "mida" in error.data["error"]["nurse_message"].lower()
                screening = (await nurse.get(f"{API}/screenings/{sid}")).json()
                assert screening["measurements"] == []


def test_openapi_declares_the_technician_errors(tmp_path):
    from service.main import create_app

    document = create_app(with_devices(tmp_path, tmp_path / "none.toml")).openapi()
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/technician"):
            continue
        for operation in operations.values():
            assert {"401", "403"} <= set(operation["responses"]), path
            forbidden = operation["responses"]["403"]["content"]["application/json"]["schema"]
            assert forbidden == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "409" in document["paths"]["/api/v1/technician/reload"]["post"]["responses"]
    assert "422" in document["paths"]["/api/v1/technician/devices"]["put"]["responses"]


async def test_drivers_replaced_under_a_starting_run_close_only_after_it_ends(tmp_path):
    """The race a reload's checks leave: a "Medir" that passed its own checks just
    before the swap runs on the old drivers; they close only once that run has ended,
    and its reading is stored."""
    async with SerialScaleSimulator(ScaleConfig.fast(weight_kg=61.0)) as sim:
        devices = write_devices(tmp_path / "devices.toml", [_scale(sim.port)])
        async with running_app(with_devices(tmp_path, devices)) as (app, nurse):
            state, rig = app.state.cart, app.state.device_rig
            old = state.devices
            sid = await new_screening(nurse)
            started = await nurse.post(f"{API}/screenings/{sid}/measure")
            assert started.status_code == 202, started.text
            state.devices = await rig.build(load_devices(devices))
            await rig.retire(old, state.runs)
            run = state.runs.get(sid)
            assert run is not None
            assert run.finished
            (done,) = [e for e in run.events if e.event == "done"]
            assert [m["value"] for m in done.data["measurements"]] == [61.0]
