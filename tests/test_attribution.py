"""The pure attribution rules: which device record may count for a screening (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cart.attribution import (
    DeviceRecord,
    Window,
    clock_offset_s,
    device_key,
    group_records,
    measured_instant,
)
from cart.drivers.base import ClockCheck
from cart.measurement import DeviceIdentity, Measurement

MX = ZoneInfo("America/Mexico_City")
#: 2026-12-05 10:00 in Mexico City (UTC-6, no daylight saving since 2022)
OPENED = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
NOW = OPENED + timedelta(minutes=5)


def glucose(local: datetime | None, value: float = 104.0, **extra: object) -> Measurement:
    return Measurement.create("glucose", value, "mg/dL", measured_at=local, **extra)  # type: ignore[arg-type]


def window(**overrides: object) -> Window:
    values: dict[str, object] = {"start": OPENED, "zone": MX, "grace_s": 120.0}
    values.update(overrides)
    return Window(**values)  # type: ignore[arg-type]


def test_a_record_taken_during_the_screening_counts() -> None:
    assert window().check([glucose(datetime(2026, 12, 5, 10, 3))], None, NOW) is None


def test_a_record_from_yesterday_is_stale_with_a_spanish_message() -> None:
    refusal = window().check([glucose(datetime(2026, 12, 4, 10, 3))], None, NOW)
    assert refusal is not None
    assert refusal.reason == "stale"
    assert "04/12/2026 10:03" in refusal.nurse_message
    assert "Reintentar" in refusal.nurse_message


def test_the_grace_admits_a_reading_taken_just_before_the_screening_opened() -> None:
    assert window().check([glucose(datetime(2026, 12, 5, 9, 59))], None, NOW) is None
    late = window().check([glucose(datetime(2026, 12, 5, 9, 57))], None, NOW)
    assert late is not None
    assert late.reason == "stale"


def test_a_record_taken_while_another_patient_was_attended_is_refused() -> None:
    floor = OPENED + timedelta(seconds=30)  # the previous screening was completed then
    refusal = window(floor=floor).check([glucose(datetime(2026, 12, 5, 10, 0))], None, NOW)
    assert refusal is not None
    assert refusal.reason == "other_screening"
    assert "otro paciente" in refusal.nurse_message
    assert window(floor=floor).check([glucose(datetime(2026, 12, 5, 10, 1))], None, NOW) is None


def test_a_clock_in_the_future_is_not_trusted() -> None:
    refusal = window().check([glucose(datetime(2026, 12, 8, 10, 3))], None, NOW)
    assert refusal is not None
    assert refusal.reason == "future"


def test_the_clock_offset_read_at_connect_corrects_the_record_time() -> None:
    # the meter runs three days fast: its "today 10:03" is three days ahead on its clock
    device_now = datetime(2026, 12, 8, 10, 5)
    clock = ClockCheck(device_time=device_now, cart_time=NOW)
    assert clock_offset_s(clock, MX) == pytest.approx(3 * 86400)
    record = [glucose(datetime(2026, 12, 8, 10, 3))]
    assert window().check(record, clock, NOW) is None
    assert measured_instant(datetime(2026, 12, 8, 10, 3), 3 * 86400, MX) == datetime(
        2026, 12, 5, 16, 3, tzinfo=UTC
    )
    # the same clock makes an old record stale, not fresh
    old = [glucose(datetime(2026, 12, 5, 10, 3))]
    refused = window().check(old, clock, NOW)
    assert refused is not None
    assert refused.reason == "stale"


def test_skew_flag_threshold() -> None:
    assert window(skew_threshold_s=300).skewed(301)
    assert not window(skew_threshold_s=300).skewed(-299)
    assert not window().skewed(None)


def test_another_device_user_is_refused_and_no_configured_user_takes_any() -> None:
    record = [
        Measurement.create("systolic_pressure", 120, "mm[Hg]", user_id=2),
        Measurement.create("diastolic_pressure", 80, "mm[Hg]", user_id=2),
    ]
    refusal = window(user_id=1).check(record, None, NOW)
    assert refusal is not None
    assert refusal.reason == "other_user"
    assert "usuario 1" in refusal.nurse_message
    assert window(user_id=2).check(record, None, NOW) is None
    assert window().check(record, None, NOW) is None


def test_device_key_prefers_serial_then_address_then_config() -> None:
    ident = DeviceIdentity(manufacturer="LifeScan", model="Ultra2", serial_number="C123")
    assert device_key(ident, "glucometro") == "sn:LifeScan/Ultra2:C123"
    assert device_key(None, "glucometro") == "cfg:glucometro"
    assert device_key(DeviceIdentity(model="X"), "g") == "cfg:g"


def test_records_group_by_time_sequence_and_user_and_keep_arrival_order() -> None:
    t1, t2 = datetime(2026, 12, 5, 9, 0), datetime(2026, 12, 5, 10, 0)
    ms = [
        Measurement.create("systolic_pressure", 120, "mm[Hg]", measured_at=t1),
        Measurement.create("diastolic_pressure", 80, "mm[Hg]", measured_at=t1),
        Measurement.create("systolic_pressure", 130, "mm[Hg]", measured_at=t2),
    ]
    records = group_records(ms)
    assert [len(r.measurements) for r in records] == [2, 1]
    assert records[0].device_time == t1
    assert records[0].from_memory
    assert "systolic_pressure=120" in records[0].key
    assert records[0].key != records[1].key


def test_a_record_without_time_or_sequence_is_live() -> None:
    (record,) = group_records([Measurement.create("body_weight", 70.0, "kg")])
    assert not record.from_memory


@given(
    minutes=st.integers(min_value=-10 * 24 * 60, max_value=10 * 24 * 60),
    offset=st.integers(min_value=-5 * 86400, max_value=5 * 86400),
)
def test_a_corrected_time_inside_the_window_always_counts(minutes: int, offset: int) -> None:
    """Whatever the device clock error, a record is judged by the cart's timeline."""
    true_local = (NOW + timedelta(minutes=minutes)).astimezone(MX).replace(tzinfo=None)
    device_local = true_local + timedelta(seconds=offset)
    clock = ClockCheck(
        device_time=NOW.astimezone(MX).replace(tzinfo=None) + timedelta(seconds=offset),
        cart_time=NOW,
    )
    refusal = window().check([glucose(device_local)], clock, NOW)
    inside = OPENED - timedelta(seconds=120) <= NOW + timedelta(minutes=minutes)
    inside = inside and minutes * 60 <= 120
    assert (refusal is None) == inside


def test_device_record_key_is_stable() -> None:
    m = glucose(datetime(2026, 12, 5, 10, 3), sequence=7)
    assert DeviceRecord((m,)).key == DeviceRecord((m,)).key == "seq:7|t:2026-12-05T10:03:00"


def _truncated(value: datetime, step_s: int) -> datetime:
    """A device clock's reading: naive wall time in MX, cut to whole ``step_s`` seconds."""
    local = value.astimezone(MX).replace(tzinfo=None)
    seconds = local.second - local.second % step_s if step_s < 60 else 0
    return local.replace(second=seconds, microsecond=0)


def test_a_record_just_after_the_last_work_on_another_screening_is_refused_in_doubt() -> None:
    floor = OPENED + timedelta(seconds=30)
    # the device clock is exact, but read to the whole second: 1.9 s later is too close
    clock = ClockCheck(device_time=_truncated(NOW, 1), cart_time=NOW)
    close = floor + timedelta(seconds=1.9)
    refusal = window(floor=floor).check([glucose(_truncated(close, 1))], clock, NOW)
    assert refusal is not None
    assert refusal.reason == "other_screening"
    later = floor + timedelta(seconds=3)
    assert window(floor=floor).check([glucose(_truncated(later, 1))], clock, NOW) is None


@given(
    before_s=st.floats(min_value=0, max_value=900),
    offset_s=st.floats(min_value=-5 * 86400, max_value=5 * 86400),
    latency_s=st.floats(min_value=0, max_value=1),
    read_after_s=st.floats(min_value=0, max_value=600),
    resolution_s=st.sampled_from([1, 60]),
    opened_before_s=st.floats(min_value=0, max_value=600),
)
def test_a_record_taken_before_the_floor_is_never_attributed(
    before_s: float,
    offset_s: float,
    latency_s: float,
    read_after_s: float,
    resolution_s: int,
    opened_before_s: float,
) -> None:
    """Whatever the device clock's offset, its stamp's resolution, the lost fraction of
    its reading and the reply's latency: a record the patient took before the last work
    on another screening never counts for this one."""
    floor = OPENED + timedelta(minutes=30)
    taken = floor - timedelta(seconds=before_s)
    device = timedelta(seconds=offset_s)  # device clock minus cart clock, truly
    arrived = floor + timedelta(seconds=read_after_s)
    clock = ClockCheck(
        device_time=_truncated(arrived - timedelta(seconds=latency_s) + device, 1),
        cart_time=arrived,
    )
    record = [glucose(_truncated(taken + device, resolution_s))]
    opened = floor - timedelta(seconds=opened_before_s)
    assert window(start=opened, floor=floor).check(record, clock, arrived) is not None


@given(
    after_s=st.floats(min_value=0.01, max_value=600),
    offset_s=st.floats(min_value=-5 * 86400, max_value=5 * 86400),
    latency_s=st.floats(min_value=0, max_value=1),
    resolution_s=st.sampled_from([1, 60]),
)
def test_a_record_clearly_after_the_floor_counts(
    after_s: float, offset_s: float, latency_s: float, resolution_s: int
) -> None:
    """The margin costs only the doubt: past it and the stamp's resolution, it counts."""
    floor = OPENED + timedelta(minutes=30)
    taken = floor + timedelta(seconds=2 + resolution_s + after_s)
    device = timedelta(seconds=offset_s)
    arrived = taken + timedelta(seconds=5)
    clock = ClockCheck(
        device_time=_truncated(arrived - timedelta(seconds=latency_s) + device, 1),
        cart_time=arrived,
    )
    record = [glucose(_truncated(taken + device, resolution_s))]
    assert window(start=floor, floor=floor).check(record, clock, arrived) is None
