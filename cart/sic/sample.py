"""Realistic completed screenings written through the store API (tests, demos, `bench/`).

Each sample screening is what the cart produces for one person: weight, height and BMI
from a scale, waist typed in by the nurse, two blood-pressure readings with pulse, and
a capillary glucose from a meter that stamps its readings, then completed with a MIDO
classification (which writes the outbox row).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final, Literal

from cart.measurement import DeviceIdentity, Measurement
from cart.store import RawEntry, Store
from cart.store.models import Patient, Screening, utcnow

__all__ = [
    "CLASSIFICATION",
    "Devices",
    "bulk_completed_screenings",
    "sample_curp",
    "sample_screening",
]

Devices = Literal["cart", "each"]
"""Whose devices took the readings: ``cart``, one cart's own cuff and meter for every
screening (a real backlog); ``each``, a cuff and a meter of its own per screening (a
pessimistic one: every screening brings two Devices the server does not know yet)."""

_CDMX: Final = timezone(timedelta(hours=-6), "CST")
_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"


def _check_digit(first17: str) -> str:
    total = sum(_ALPHABET.index(c) * (18 - i) for i, c in enumerate(first17))
    return str((10 - total % 10) % 10)


def sample_curp(index: int) -> tuple[str, date, str]:
    """A well-formed CURP (valid check digit), its birth date and sex, unique per ``index``."""
    born = date(1950, 1, 1) + timedelta(days=index % 18000)
    sex = "M" if index % 2 else "H"
    homonym = str((index // 18000) % 10)
    first17 = f"GOMA{born:%y%m%d}{sex}DFRRN{homonym}"
    return first17 + _check_digit(first17), born, "female" if sex == "M" else "male"


CLASSIFICATION: Final[dict[str, Any]] = {
    "ruleset": {"id": "nom", "version": "2024.1"},
    "bmi": 27.3,
    "weight_status": "overweight",
    "obesity_grade": None,
    "waist_risk": "high",
    "bp_category": "high_normal",
    "glucose_category": "prediabetes",
    "overall": {
        "obesity": "at_risk",
        "hypertension": "at_risk",
        "diabetes": "at_risk",
        "dyslipidemia": None,
        "urgent_attention": False,
    },
    "alerts": [],
    "recommendations": [],
    "references": [],
}


@dataclass(frozen=True, slots=True)
class _Reading:
    measurements: list[Measurement]
    device_id: str | None
    protocol: str | None
    raw: list[RawEntry]
    manual_entry: bool = False


def _patient(index: int) -> Patient:
    curp, born, sex = sample_curp(index)
    return Patient(
        curp=curp,
        given_name="Ana María" if sex == "female" else "José Luis",
        family_name=f"Gómez Prueba {index}",
        birth_date=born,
        sex=sex,
    )


def _readings(index: int, devices: Devices = "each") -> list[_Reading]:
    scale = DeviceIdentity("bascula", "A&D", "UC-321", None)
    readings = [
        _Reading(
            [
                # a 0.05 kg scale prints 70.50: the FHIR value keeps both digits
                Measurement.create(
                    "body_weight", 70.5 + index % 30, "kg", device=scale, decimals=2
                ),
                Measurement.create(
                    "body_height", 160.0 + index % 25, "cm", device=scale, decimals=1
                ),
                Measurement.create("bmi", 27.3, "kg/m2", device=scale, decimals=1),
            ],
            "bascula",
            "tanita.line",
            [RawEntry("tanita.line", b"{0,16,~0,1,Wk,72.4,Hm,170.5,MI,24.9}")],
        ),
        _Reading(  # typed "92.0"
            [Measurement.create("waist_circumference", 92.0, "cm", decimals=1)],
            None,
            None,
            [],
            True,
        ),
    ]
    unit = index if devices == "each" else 0
    cuff = DeviceIdentity("baumanometro", "A&D", "UA-651BLE", f"5{unit:09d}")
    stamp = datetime(2026, 11, 23, 9, 0, 0, tzinfo=_CDMX) + timedelta(minutes=index % 600)
    for n, (sys_, dia, mean, pulse) in enumerate(((128, 84, 99, 72), (124, 82, 96, 70))):
        flags = ["irregular_pulse"] if n == 1 else []
        at = stamp + timedelta(minutes=2 * n)
        readings.append(
            _Reading(
                [
                    Measurement.create(kind, value, "mmHg" if kind != "pulse_rate" else "bpm",
                                       measured_at=at, flags=flags, device=cuff, sequence=n,
                                       decimals=0)
                    for kind, value in (("systolic_pressure", sys_), ("diastolic_pressure", dia),
                                        ("mean_arterial_pressure", mean), ("pulse_rate", pulse))
                ],
                "baumanometro",
                "ble.blood_pressure",
                [RawEntry("ble.blood_pressure", bytes.fromhex("1e8000540063000000000000480000"))],
            )
        )  # fmt: skip
    meter = DeviceIdentity("glucometro", "LifeScan", "OneTouch Ultra 2", f"G{unit:08d}")
    readings.append(
        _Reading(
            [
                Measurement.create(
                    "glucose", 6.1, "mmol/L", measured_at=stamp - timedelta(minutes=5),
                    context={"meal": "fasting", "sample": "capillary_whole_blood"},
                    device=meter, sequence=index, decimals=1,  # 6.1 mmol/L -> 110 mg/dL
                )
            ],
            "glucometro",
            "onetouch.ultra2",
            [RawEntry("onetouch.ultra2", b'P "WED","11/23/26","08:55:00   ","  00110 "')],
        )
    )  # fmt: skip
    return readings


def sample_screening(store: Store, index: int, *, complete: bool = True) -> int:
    """Write one patient and one screening with its readings; return the screening id."""
    patient = store.find_patient_by_curp(sample_curp(index)[0]) or store.add_patient(
        _patient(index)
    )
    screening = store.add_screening(Screening(patient_id=patient.id, glucose_context="fasting"))
    sid = screening.id
    assert sid is not None
    for r in _readings(index):
        store.record_reading(
            sid,
            r.measurements,
            device_id=r.device_id,
            protocol=r.protocol,
            raw=r.raw,
            manual_entry=r.manual_entry,
        )
    if complete:
        store.complete(sid, dict(CLASSIFICATION))
    return sid


def bulk_completed_screenings(
    store: Store, start: int, count: int, *, batch: int = 250, devices: Devices = "each"
) -> None:
    """``count`` completed sample screenings written in large transactions (benchmark setup).

    The rows are the ones :func:`sample_screening` writes through the store API, outbox
    entry included; only the number of transactions differs (one per ``batch``).
    ``devices``: see :data:`Devices`.
    """
    from sqlmodel import Session

    from cart.store.models import OutboxEntry, ScreeningStatus
    from cart.store.repo import SIC_DESTINATION, _record

    done = 0
    while done < count:
        with Session(store.engine) as s:
            for index in range(start + done, start + min(count, done + batch)):
                patient = _patient(index)
                s.add(patient)
                s.flush()
                now = utcnow()
                screening = Screening(
                    patient_id=patient.id,
                    glucose_context="fasting",
                    status=ScreeningStatus.COMPLETED,
                    classification=dict(CLASSIFICATION),
                    completed_at=now,
                )
                s.add(screening)
                s.flush()
                assert screening.id is not None
                for r in _readings(index, devices):
                    blob = b"".join(e.data for e in r.raw) or None
                    reading_id = str(uuid.uuid4())
                    for m in r.measurements:
                        s.add(
                            _record(m, screening.id, reading_id, r.device_id, r.protocol, blob,
                                    now, r.manual_entry, now, None, None)
                        )  # fmt: skip
                s.add(OutboxEntry(screening_id=screening.id, destination=SIC_DESTINATION))
            s.commit()
        done = min(count, done + batch)
