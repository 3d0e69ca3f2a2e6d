"""CURP validation: format, RENAPO check digit, consistency with birth date and sex."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cart.curp import STATES, CurpError, check_digit, normalise, validate_curp
from cart.errors import ValidationError

# Published valid CURPs:
# - python-stdnum, stdnum/mx/curp.py docstring: validate('BOXW310820HNERXN09')
# - Wikipedia (es), "Clave Única de Registro de Población", example BEML920313HMCLNS09
# - curp.readthedocs.io "Dígito Verificador": SABC560626MDFLRN01 (sum 610, digit 1)
PUBLISHED = ["BOXW310820HNERXN09", "BEML920313HMCLNS09", "SABC560626MDFLRN01"]


@pytest.mark.parametrize("curp", PUBLISHED)
def test_published_curps_have_the_right_check_digit(curp):
    assert check_digit(curp[:17]) == curp[17]
    info = validate_curp(curp)
    assert info.curp == curp


def test_fields_are_decoded():
    info = validate_curp("BEML920313HMCLNS09")
    assert info.birth_date == date(1992, 3, 13)
    assert info.sex == "male"
    assert info.state == "MC"
    assert validate_curp("SABC560626MDFLRN01").sex == "female"


def test_letter_differentiator_means_born_from_2000():
    first = "PEGA050709MDFRRNA"
    info = validate_curp(first + check_digit(first))
    assert info.birth_date == date(2005, 7, 9)


def test_input_is_normalised():
    assert normalise(" beml 920313hmclns09 ") == "BEML920313HMCLNS09"
    assert validate_curp("beml920313hmclns09").curp == "BEML920313HMCLNS09"


@pytest.mark.parametrize(
    ("curp", "field", "code"),
    [
        ("BEML920313HMCLNS0", "curp", "length"),
        ("BEML920313HMCLNS099", "curp", "length"),
        ("1EML920313HMCLNS09", "curp", "format"),
        ("BEML92O313HMCLNS09", "curp", "format"),  # letter O for a zero
        ("BEML920313ZMCLNS09", "curp", "format"),  # sex must be H, M or X
        ("BEML920313HMCLSN09", "curp", "check_digit"),  # two characters swapped
        ("BEML920313HMCLNS08", "curp", "check_digit"),
        ("BEML920313HMXLNS09", "curp", "state"),
    ],
)
def test_bad_curps_name_field_and_reason(curp, field, code):
    with pytest.raises(CurpError) as caught:
        validate_curp(curp)
    assert caught.value.field == field
    assert caught.value.code == code
    assert isinstance(caught.value, ValidationError)
    assert caught.value.reason_es
    assert curp not in str(caught.value)  # never echo personal data into messages


def test_impossible_date_is_refused():
    first = "BEML921313HMCLNS0"
    with pytest.raises(CurpError) as caught:
        validate_curp(first + check_digit(first))
    assert caught.value.code == "date"


def test_future_birth_date_is_refused_given_today():
    # a letter differentiator on a '92 date means 2092: the weighted sum does not notice
    # (A = 10, weight 2), the date does
    curp = "BEML920313HMCLNSA9"
    assert validate_curp(curp).birth_date == date(2092, 3, 13)
    with pytest.raises(CurpError) as caught:
        validate_curp(curp, today=date(2026, 1, 1))
    assert caught.value.code == "date"


def test_birth_date_and_sex_must_match():
    with pytest.raises(CurpError) as caught:
        validate_curp("BEML920313HMCLNS09", birth_date=date(1992, 3, 14))
    assert (caught.value.field, caught.value.code) == ("birth_date", "curp_mismatch")
    with pytest.raises(CurpError) as caught:
        validate_curp("BEML920313HMCLNS09", sex="female")
    assert (caught.value.field, caught.value.code) == ("sex", "curp_mismatch")
    validate_curp("BEML920313HMCLNS09", birth_date=date(1992, 3, 13), sex="male")


def test_non_binary_x_accepts_either_declared_sex():
    first = "BEML920313XMCLNS0"
    curp = first + check_digit(first)
    assert validate_curp(curp, sex="female").sex is None
    assert validate_curp(curp, sex="male").sex is None


def test_every_state_code_is_two_letters():
    assert "NE" in STATES
    assert "DF" in STATES
    assert all(len(s) == 2 and s.isalpha() for s in STATES)


@given(st.text(max_size=30))
def test_anything_either_validates_or_raises_curp_error(text):
    with contextlib.suppress(CurpError):
        validate_curp(text)


@given(
    st.builds(
        lambda a, d, sx, st_, c, diff: f"{a}{d}{sx}{st_}{c}{diff}",
        st.from_regex(r"[A-Z][AEIOU][A-Z]{2}", fullmatch=True),
        st.dates(date(1930, 1, 1), date(1999, 12, 31)).map(lambda d: d.strftime("%y%m%d")),
        st.sampled_from("HM"),
        st.sampled_from(sorted(STATES)),
        st.from_regex(r"[B-DF-HJ-NP-TV-Z]{3}", fullmatch=True),
        st.from_regex(r"[0-9]", fullmatch=True),
    )
)
def test_generated_curps_validate_with_their_digit(first17):
    curp = first17 + check_digit(first17)
    assert validate_curp(curp).curp == curp
    wrong = str((int(curp[17]) + 1) % 10)
    with pytest.raises(CurpError):
        validate_curp(curp[:17] + wrong)
