"""Property: every encoder/decoder pair keeps the precision the device sends.

A value written with d digits after the point (an SFLOAT/FLOAT exponent of -d, d digits
in an ASCII frame, a register scaled by 10**-d) decodes to a Measurement with
``decimals == d`` in the device's unit; after a unit conversion, the documented
``converted_decimals`` of it. Integer formats (meters' mg/dL, A&D and Accutorr mmHg)
always decode to 0 decimals.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cart.measurement import Measurement, converted_decimals
from cart.protocols import (
    and_ua767,
    and_weighing,
    ble_blood_pressure,
    ble_glucose,
    contour_astm,
    datascope_accutorr,
    freestyle_optium,
    indicator_st_gs,
    onetouch_ultra2,
    tanita_line,
)
from cart.protocols.ble_common import DateTime, medfloat_decimals
from cart.protocols.ble_weight import (
    WeightMeasurement,
    WeightScaleFeature,
    decode_weight_measurement,
    encode_weight_measurement,
    with_feature_resolution,
)
from cart.protocols.ieee11073 import (
    SFLOAT_NAN,
    MedFloat,
    encode_float,
    encode_sfloat,
    parse_float,
    parse_sfloat,
    sfloat,
)
from cart.protocols.modbus_maps import cas_ci600d, height_rod

WHEN = datetime(2026, 11, 23, 9, 30)


def _only(measurements: tuple[Measurement, ...] | list[Measurement]) -> Measurement:
    (m,) = measurements
    return m


@st.composite
def written(draw: st.DrawFn, low: int, high: int, most: int = 3) -> tuple[Decimal, int]:
    """A number in [low, high] written with 0..most digits after the point."""
    decimals = draw(st.integers(0, most))
    steps = draw(st.integers(low * 10**decimals, high * 10**decimals))
    return Decimal(steps).scaleb(-decimals), decimals


# ----------------------------------------------------------------- IEEE 11073 and BLE


@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_sfloat_exponent_is_the_precision(mantissa: int, exponent: int):
    number = MedFloat(mantissa, exponent)
    decoded = parse_sfloat(encode_sfloat(number))
    assert decoded == number
    assert medfloat_decimals(decoded) == max(0, -exponent)


@given(st.integers(-(2**23) + 3, 2**23 - 3), st.integers(-20, 20))
def test_float_exponent_is_the_precision(mantissa: int, exponent: int):
    decoded = parse_float(encode_float(MedFloat(mantissa, exponent)))
    assert medfloat_decimals(decoded) == max(0, -exponent)


@given(written(0, 200, most=3))
def test_a_decimal_keeps_its_digits_through_sfloat(number: tuple[Decimal, int]):
    value, decimals = number
    if abs(value.scaleb(decimals)) > 2045:
        value, decimals = value.quantize(Decimal(1)), 0  # too many digits for 12 bits
    assert medfloat_decimals(parse_sfloat(encode_sfloat(value))) == decimals


@given(written(40, 260, most=2), st.booleans())
def test_blood_pressure_keeps_the_cuffs_digits(number: tuple[Decimal, int], kpa: bool):
    value, decimals = number
    if abs(value.scaleb(decimals)) > 2045:
        value, decimals = value.quantize(Decimal(1)), 0
    cuff = ble_blood_pressure.BloodPressureMeasurement(
        sfloat(value), sfloat(Decimal(70)), SFLOAT_NAN, kpa, None, sfloat(Decimal(72))
    )
    payload = ble_blood_pressure.encode_blood_pressure(cuff)
    systolic, diastolic, mean, pulse = ble_blood_pressure.decode_blood_pressure(
        payload
    ).measurements
    expected = converted_decimals(decimals, "kPa", "mm[Hg]", 1) if kpa else decimals
    assert systolic.decimals == expected
    assert (diastolic.decimals, mean.decimals, pulse.decimals) == (0, None, 0)  # MAP: NaN


@given(st.integers(20, 600), st.booleans())
def test_glucose_reports_whole_mg_dl_from_either_unit(mg_dl: int, mmol: bool):
    # kg/L: 98 mg/dL is 98e-5 kg/L; mol/L: 0.1 mmol/L steps are 1e-4 mol/L (1.8 mg/dL)
    concentration = MedFloat(round(mg_dl / 18.016 * 10), -4) if mmol else MedFloat(mg_dl, -5)
    reading = ble_glucose.GlucoseMeasurement(
        sequence_number=1,
        base_time=DateTime(2026, 11, 23, 9, 0, 0),
        concentration=concentration,
        mol_per_l=mmol,
        type=1,
        sample_location=1,
    )
    payload = ble_glucose.encode_glucose_measurement(reading)
    glucose = _only(ble_glucose.decode_glucose_measurement(payload).measurements)
    assert glucose.decimals == 0
    assert glucose.value is not None
    assert glucose.value.is_integer()


# ----------------------------------------------------------------- serial text formats


@given(written(2, 250, most=3))
def test_and_weighing_keeps_the_printed_digits(number: tuple[Decimal, int]):
    value, decimals = number
    frame = and_weighing.encode(float(value), "kg", decimals=decimals)
    m = _only(and_weighing.decode(frame).measurements)
    assert (m.value, m.decimals) == (float(value), decimals)


@given(written(2, 250, most=3), st.sampled_from(["selleton", "tiger", "dini"]))
def test_indicator_keeps_the_printed_digits(number: tuple[Decimal, int], style: str):
    value, decimals = number
    frame = indicator_st_gs.encode(float(value), "kg", decimals=decimals, style=style)  # type: ignore[arg-type]
    m = _only(indicator_st_gs.decode(frame).measurements)
    assert (m.value, m.decimals) == (float(value), decimals)


@given(written(20, 250, most=1), written(100, 220, most=1))
def test_tanita_prints_and_keeps_one_decimal(
    weight: tuple[Decimal, int], height: tuple[Decimal, int]
):
    frame = tanita_line.encode(weight=float(weight[0]), height=float(height[0]))
    decoded = tanita_line.decode(frame).measurements
    assert [m.decimals for m in decoded] == [1, 1]  # "Wk,70.0", "Hm,170.0"


@given(st.integers(20, 600))
def test_meters_and_integer_cuffs_report_whole_numbers(value: int):
    ultra2 = onetouch_ultra2.decode(
        onetouch_ultra2.encode_record(onetouch_ultra2.DumpRecord(WHEN, value))
    )
    optium = freestyle_optium.decode(
        freestyle_optium.encode_reading(freestyle_optium.OptiumReading(WHEN, value))
    )
    pressure = 40 + value % 200
    ua767 = and_ua767.decode(and_ua767.encode_data(pressure + 30, pressure, 70, pressure + 10))
    accutorr = datascope_accutorr.decode(
        datascope_accutorr.encode_patient_data(
            systolic=pressure + 30, diastolic=pressure, mean_arterial_pressure=pressure + 10,
            pulse_rate=70,
        )
    )  # fmt: skip
    for decoded in (ultra2, optium, ua767, accutorr):
        assert decoded.measurements
        assert {m.decimals for m in decoded.measurements} == {0}


# ----------------------------------------------------------------- Modbus registers


@given(written(2, 250, most=3))
def test_modbus_register_scale_is_the_precision(number: tuple[Decimal, int]):
    value, decimals = number
    regmap = cas_ci600d(decimals=decimals)
    m = _only(regmap.decode(regmap.encode(float(value))))
    assert (m.value, m.decimals) == (float(value), decimals)


@given(st.integers(400, 2300))
def test_a_millimetre_rod_reports_tenths_of_a_centimetre(mm: int):
    m = _only(height_rod(with_status=False).decode([mm]))
    assert (m.value, m.decimals) == (mm / 10, 1)


@given(st.integers(200, 2500), st.sampled_from([(1, 1), (3, 1), (4, 2), (6, 2), (7, 3)]))
def test_ble_scale_weight_takes_the_feature_resolution(tenths: int, code_places: tuple[int, int]):
    # WSS sends 0.005 kg steps; the Weight Scale Feature says the scale's own resolution
    code, places = code_places
    # tenths of a kg lie on every grid finer than 0.5 kg; the 0.5 kg scale gets halves
    weight = tenths // 5 * 0.5 if code == 1 else tenths / 10
    payload = encode_weight_measurement(WeightMeasurement(weight, False))
    (m,) = with_feature_resolution(
        decode_weight_measurement(payload).measurements,
        WeightScaleFeature(weight_measurement_resolution=code),
    )
    assert (m.value, m.decimals) == (weight, places)


def test_ble_scale_feature_resolution_in_pounds_and_off_grid():
    feature = WeightScaleFeature(weight_measurement_resolution=3, height_measurement_resolution=3)
    # 0.2 lb steps: 155.4 lb -> one decimal of lb -> hundredths of a kg
    lb = decode_weight_measurement(encode_weight_measurement(WeightMeasurement(155.4, True)))
    (weight,) = with_feature_resolution(lb.measurements, feature)
    assert (weight.value, weight.decimals) == (70.49, 2)
    # a value off the announced 0.1 kg grid keeps the field's 0.005 kg precision
    odd = decode_weight_measurement(encode_weight_measurement(WeightMeasurement(70.05, False)))
    assert [m.decimals for m in with_feature_resolution(odd.measurements, feature)] == [3]
    # resolution "not specified": unchanged
    plain = WeightScaleFeature()
    assert with_feature_resolution(odd.measurements, plain) == odd.measurements


@given(written(1, 33, most=2), written(20, 600, most=0), st.booleans())
def test_contour_result_keeps_the_digits_of_its_record(
    mmol: tuple[Decimal, int], mg: tuple[Decimal, int], in_mmol: bool
):
    value, decimals = mmol if in_mmol else mg
    unit = "mmol/L" if in_mmol else "mg/dL"
    record = contour_astm.encode_result(1, format(value, "f"), WHEN, unit=unit)
    m = _only(contour_astm.decode_record(record).measurements)
    # mg/dL as printed (whole); mmol/L: 0.1 mmol/L is 1.8 mg/dL -> whole mg/dL, and a
    # 0.01 mmol/L meter (0.18 mg/dL) -> tenths
    expected = {0: 0, 1: 0, 2: 1}[decimals] if in_mmol else 0
    assert m.decimals == expected == converted_decimals(decimals, unit, "mg/dL", 1)
