"""The store: migrations match the models, readings are atomic, timestamps are UTC."""

from __future__ import annotations

from datetime import date, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from cart.measurement import Measurement
from cart.store import RawEntry, Store, create_db_engine, migrate, to_measurement
from cart.store.models import Patient, Screening


def _store(db_url: str) -> Store:
    engine = create_db_engine(db_url)
    migrate(engine)
    return Store(engine)


def test_migrations_produce_exactly_the_models(db_url):
    store = _store(db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_migrate_is_idempotent(db_url):
    store = _store(db_url)
    migrate(store.engine)


def test_reading_round_trip_keeps_raw_and_original(db_url):
    store = _store(db_url)
    patient = store.add_patient(
        Patient(
            curp="GOMA800101MDFRRR09",
            given_name="Ana",
            family_name="Gómez",
            birth_date=date(1980, 1, 1),
            sex="female",
        )
    )
    sid = store.add_screening(Screening(patient_id=patient.id)).id
    assert sid is not None
    # a device timestamp is naive device-local time and must store as it came
    taken = datetime(2024, 5, 10, 9, 22)
    m = Measurement.create("body_weight", 155.43, "lb", flags=["unstable"], measured_at=taken)
    stored = store.record_reading(
        sid, [m], device_id="bascula", protocol="and.weighing", raw=[RawEntry("and.weighing", b"x")]
    )
    (row,) = store.measurements_of(sid)
    assert row.reading_id == stored.reading_id
    assert to_measurement(row) == m
    assert row.device_time == taken
    assert row.measured_at is not None
    assert row.measured_at.tzinfo is not None
    assert row.raw == b"x"
    assert row.received_at.tzinfo is not None
    assert [r.data for r in store.raw_frames_of(sid)] == [b"x"]
    assert store.find_patient_by_curp("GOMA800101MDFRRR09").id == patient.id
    assert [p.id for p in store.search_patients("ana gó")] == [patient.id]
    assert [s.id for s in store.screenings_of_patient(patient.id)] == [sid]


def test_refused_reading_kept_only_in_raw_log(db_url):
    store = _store(db_url)
    sid = store.add_screening(Screening()).id
    store.log_refused(sid, device_id="bascula", raw=[RawEntry("and.weighing", b"y")], note="3 kg")
    assert store.measurements_of(sid) == []
    (raw,) = store.raw_frames_of(sid)
    assert raw.accepted is False
    assert raw.note == "3 kg"
