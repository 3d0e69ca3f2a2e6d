"""The classifier: applies the cited tables of :mod:`cart.classify.tables` to one screening.

Missing inputs are handled without guessing. Each step works on the *set* of labels that
are possible given what was measured: a missing sex, glucose context or diastolic value
widens the set to every alternative; a label is reported only when the set has exactly
one member (e.g. a BMI of 22.0 at 155 cm is ``normal`` for either sex under ``nom``,
while 24.0 at 155 cm needs the sex and gives ``null``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

from cart.classify.labels import (
    BpCategory,
    Diagnosis,
    Domain,
    GlucoseCategory,
    GlucoseContext,
    RuleSetId,
    Sex,
    WaistRisk,
    WeightStatus,
)
from cart.classify.model import (
    Alert,
    Classification,
    ClassificationInput,
    ClassifyOptions,
    FindriscResult,
    Overall,
    Recommendation,
    Text,
)
from cart.classify.references import ordered_references
from cart.classify.rules import Band, Threshold, dec
from cart.classify.tables import (
    DIABETES_CONTROL_CASUAL,
    DIABETES_CONTROL_FASTING,
    DIABETES_CONTROL_HBA1C,
    FINDRISC_AGE,
    FINDRISC_ANSWERS,
    FINDRISC_BMI,
    FINDRISC_RISK,
    FINDRISC_WAIST,
    GLUCOSE_DOMAIN,
    ISOLATED_SYSTOLIC,
    LIPID_CONTROL,
    OBESITY_CONTROL,
    OBESITY_GRADE,
    URGENT_GLUCOSE_HIGH,
    URGENT_GLUCOSE_LOW,
    WAIST_TABLES,
    WHTR,
    RuleSet,
    get_ruleset,
)
from cart.classify.texts import alert_rule, recommendation_rule

__all__ = ["bmi_value", "classify", "waist_to_height_value"]

T = TypeVar("T")

_HYPOGLYCEMIA = frozenset(
    {GlucoseCategory.HYPOGLYCEMIA_LEVEL_1, GlucoseCategory.HYPOGLYCEMIA_LEVEL_2}
)
_GLUCOSE_ORDER = tuple(GlucoseCategory)

#: Input fields whose absence is reported in the ``incomplete_screening`` alert.
_SCREENING_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("sex", "sexo", "sex"),
    ("age", "edad", "age"),
    ("weight_kg", "peso", "weight"),
    ("height_cm", "estatura", "height"),
    ("waist_cm", "cintura", "waist"),
    ("systolic", "presión sistólica", "systolic pressure"),
    ("diastolic", "presión diastólica", "diastolic pressure"),
    ("glucose_mg_dl", "glucosa", "glucose"),
)


def round_half_up(value: Fraction, places: int) -> Decimal:
    """Exact half-up rounding of a non-negative rational to ``places`` decimals."""
    scaled = math.floor(value * 10**places + Fraction(1, 2))
    return Decimal(scaled).scaleb(-places)


def bmi_value(weight_kg: float, height_cm: float) -> Decimal:
    """BMI = kg / m², computed exactly and rounded half-up to one decimal (rule G2).

    ``bmi_value(76.8, 160) == Decimal("30.0")`` although ``76.8 / 1.6**2`` is
    29.999999999999993 in floating point.
    """
    weight = Fraction(dec(weight_kg))
    height_m = Fraction(dec(height_cm)) / 100
    return round_half_up(weight / (height_m * height_m), 1)


def waist_to_height_value(waist_cm: float, height_cm: float) -> Decimal:
    """Waist / height, exactly, rounded half-up to two decimals."""
    return round_half_up(Fraction(dec(waist_cm)) / Fraction(dec(height_cm)), 2)


def _single(candidates: Iterable[T]) -> T | None:
    """The label if every possibility agrees, else ``None`` (never a guess)."""
    unique = set(candidates)
    return next(iter(unique)) if len(unique) == 1 else None


def _num(value: float | Decimal) -> str:
    text = format(dec(value).normalize(), "f")
    return text


class _Run:
    """One classification: the inputs, and the references, alerts and advice it collects."""

    def __init__(self, inp: ClassificationInput, rs: RuleSet, opts: ClassifyOptions) -> None:
        self.inp = inp
        self.rs = rs
        self.opts = opts
        self.refs: list[str] = []
        self.alerts: list[Alert] = []
        self.recommendations: list[Recommendation] = []
        self.sexes: tuple[Sex, ...] = (inp.sex,) if inp.sex is not None else tuple(Sex)
        self.contexts: tuple[GlucoseContext, ...] = (
            (inp.glucose_context,) if inp.glucose_context is not None else tuple(GlucoseContext)
        )
        self.known = inp.known_diagnoses

    # ------------------------------------------------------------------ helpers

    def cite(self, *items: Band[Any] | Threshold | Iterable[str]) -> None:
        for item in items:
            if isinstance(item, Band | Threshold):
                self.refs.extend(item.refs)
            else:
                self.refs.extend(item)

    def alert(self, code: str, fields: tuple[str, ...], **params: str) -> None:
        rule = alert_rule(code)
        text = Text(rule.es.format(**params), rule.en.format(**params))
        self.alerts.append(Alert(code, rule.severity, fields, text))

    def recommend(self, code: str) -> None:
        rule = recommendation_rule(code, self.rs.id)
        self.recommendations.append(
            Recommendation(rule.code, rule.domain, Text(rule.es, rule.en), rule.months, rule.refs)
        )
        self.cite(rule.refs)

    # ------------------------------------------------------------------ anthropometry

    def weight_status(self, bmi: Decimal | None) -> set[WeightStatus]:
        rs, inp = self.rs, self.inp
        if bmi is None or inp.height_cm is None:
            return set(WeightStatus)
        tables = {rs.bmi}
        rule = rs.short_stature
        if rule is not None and rs.bmi_short_stature is not None:
            height = dec(inp.height_cm)
            short = {height < rule.limit(sex) for sex in self.sexes}
            tables = {rs.bmi_short_stature if s else rs.bmi for s in short}
            if short == {True}:
                self.alert("short_stature", ("height_cm", "sex"), height=_num(height))
            if len(short) == 1:
                self.cite(rule.refs)
        bands = [table.find(bmi) for table in tables]
        labels = {b.label for b in bands}
        if len(labels) == 1:
            self.cite(*bands)
        return labels

    def waist_risk(self) -> set[WaistRisk]:
        if self.inp.waist_cm is None:
            return set(WaistRisk)
        waist = dec(self.inp.waist_cm)
        tables = WAIST_TABLES[self.opts.waist_profile]
        bands = [tables[sex].find(waist) for sex in self.sexes]
        labels = {b.label for b in bands}
        if len(labels) == 1:
            self.cite(*bands)
        return labels

    # ------------------------------------------------------------------ blood pressure

    def bp(self) -> tuple[set[BpCategory], Band[BpCategory] | None, Band[BpCategory] | None]:
        rs, inp = self.rs, self.inp
        sbp = rs.bp_systolic.find(dec(inp.systolic)) if inp.systolic is not None else None
        dbp = rs.bp_diastolic.find(dec(inp.diastolic)) if inp.diastolic is not None else None
        s_opts = [sbp.label] if sbp else list(rs.bp_systolic.labels())
        d_opts = [dbp.label] if dbp else list(rs.bp_diastolic.labels())
        labels = {max(s, d, key=rs.bp_rank) for s in s_opts for d in d_opts}
        if len(labels) == 1:
            self.cite(*(b for b in (sbp, dbp) if b is not None))
        if rs.isolated_systolic_flag:
            values = {"systolic": _opt(inp.systolic), "diastolic": _opt(inp.diastolic)}
            if ISOLATED_SYSTOLIC.evaluate(values):
                self.alert("isolated_systolic_hypertension", ("systolic", "diastolic"))
        return labels, sbp, dbp

    # ------------------------------------------------------------------ glucose

    def glucose(self) -> set[GlucoseCategory]:
        rs, inp = self.rs, self.inp
        glucose = _opt(inp.glucose_mg_dl)
        a1c_band = None
        if (
            rs.hba1c_screening is not None
            and inp.hba1c is not None
            and Diagnosis.DIABETES not in self.known
        ):
            a1c_band = rs.hba1c_screening.find(dec(inp.hba1c))
        if glucose is not None and inp.glucose_context is None:
            self.alert("glucose_context_missing", ("glucose_context",))
        labels: set[GlucoseCategory] = set()
        used: list[Band[GlucoseCategory]] = []
        for context in self.contexts:
            table = rs.glucose_fasting if context is GlucoseContext.FASTING else rs.glucose_casual
            g_band = table.find(glucose) if glucose is not None else None
            if g_band is None and a1c_band is None:
                labels.update(GlucoseCategory)
                continue
            if g_band is None:
                assert a1c_band is not None
                chosen = [a1c_band]
            elif a1c_band is None or g_band.label in _HYPOGLYCEMIA:
                chosen = [g_band]
            else:  # ADA: keep the higher of the glucose and the HbA1c category
                chosen = [g_band, a1c_band]
            labels.add(max((b.label for b in chosen), key=_GLUCOSE_ORDER.index))
            used.extend(chosen)
        if len(labels) == 1:
            self.cite(*used)
        return labels

    # ------------------------------------------------------------------ MIDO domains

    def obesity_domain(
        self, bmi: Decimal | None, statuses: set[WeightStatus], waists: set[WaistRisk]
    ) -> Domain | None:
        if Diagnosis.OBESITY in self.known:
            controlled = OBESITY_CONTROL.evaluate({"bmi": bmi})
            if controlled is None:
                return None
            self.cite(OBESITY_CONTROL.all_refs())
            return Domain.KNOWN_CONTROLLED if controlled else Domain.KNOWN_UNCONTROLLED
        return _single(_obesity_label(s, w) for s in statuses for w in waists)

    def hypertension_domain(self, labels: set[BpCategory]) -> Domain | None:
        rs, inp = self.rs, self.inp
        if Diagnosis.HYPERTENSION in self.known:
            goal = rs.hypertension_control
            controlled = goal.evaluate(
                {"systolic": _opt(inp.systolic), "diastolic": _opt(inp.diastolic)}
            )
            if controlled is None:
                return None
            self.cite(goal.all_refs())
            return Domain.KNOWN_CONTROLLED if controlled else Domain.KNOWN_UNCONTROLLED
        domain = _single(rs.bp_to_domain(label) for label in labels)
        if domain is not None:
            self.cite(rs.bp_domain_refs)
        return domain

    def diabetes_domain(self, labels: set[GlucoseCategory]) -> Domain | None:
        inp = self.inp
        glucose = _opt(inp.glucose_mg_dl)
        if Diagnosis.DIABETES not in self.known:
            return _single(dict(GLUCOSE_DOMAIN)[label] for label in labels)
        if glucose is not None and URGENT_GLUCOSE_LOW.holds(glucose):
            self.cite(URGENT_GLUCOSE_LOW)
            return Domain.KNOWN_UNCONTROLLED
        if inp.hba1c is not None:
            criteria = [DIABETES_CONTROL_HBA1C]
        elif glucose is None:
            return None
        else:
            criteria = [
                DIABETES_CONTROL_FASTING
                if context is GlucoseContext.FASTING
                else DIABETES_CONTROL_CASUAL
                for context in self.contexts
            ]
        values = {"hba1c": _opt(inp.hba1c), "glucose_mg_dl": glucose}
        controlled = _single(c.evaluate(values) for c in criteria)
        if controlled is None:
            return None
        for criterion in criteria:
            self.cite(criterion.all_refs())
        return Domain.KNOWN_CONTROLLED if controlled else Domain.KNOWN_UNCONTROLLED

    def dyslipidemia_domain(self) -> Domain | None:
        if Diagnosis.DYSLIPIDEMIA not in self.known:
            return None
        values = {"total_cholesterol": _opt(self.inp.total_cholesterol), "ldl": _opt(self.inp.ldl)}
        controlled = LIPID_CONTROL.evaluate(values)
        if controlled is None:
            return None
        self.cite(LIPID_CONTROL.all_refs())
        return Domain.KNOWN_CONTROLLED if controlled else Domain.KNOWN_UNCONTROLLED

    # ------------------------------------------------------------------ urgent attention

    def urgent(self, sbp: Band[BpCategory] | None, dbp: Band[BpCategory] | None) -> bool:
        inp, rs = self.inp, self.rs
        urgent = False
        glucose = _opt(inp.glucose_mg_dl)
        if glucose is not None:
            if URGENT_GLUCOSE_LOW.holds(glucose):
                urgent = True
                level = rs.glucose_fasting.find(glucose).label  # hypoglycemia rows are shared
                self.alert(level.value, ("glucose_mg_dl",), glucose=_num(glucose))
                self.cite(URGENT_GLUCOSE_LOW)
                self.recommend("treat_hypoglycemia")
            high = Threshold(
                URGENT_GLUCOSE_HIGH.quantity,
                URGENT_GLUCOSE_HIGH.op,
                dec(self.opts.urgent_glucose_high),
                URGENT_GLUCOSE_HIGH.unit,
                URGENT_GLUCOSE_HIGH.citation,
                URGENT_GLUCOSE_HIGH.refs,
            )
            if high.holds(glucose):
                urgent = True
                self.alert(
                    "severe_hyperglycemia",
                    ("glucose_mg_dl",),
                    glucose=_num(glucose),
                    threshold=_num(high.value),
                )
                self.cite(high)
                self.recommend("refer_severe_hyperglycemia")
        if any(b is not None and b.label in rs.bp_urgent for b in (sbp, dbp)):
            urgent = True
            code = "severe_hypertension" if rs.id is RuleSetId.NOM else "hypertensive_crisis"
            bp = f"{_num_or_dash(inp.systolic)}/{_num_or_dash(inp.diastolic)}"
            self.alert(code, ("systolic", "diastolic"), bp=bp)
            self.cite(rs.bp_urgent_refs)
            self.recommend("refer_severe_hypertension")
        return urgent

    # ------------------------------------------------------------------ advice

    def advise(
        self,
        overall: Overall,
        weight_status: WeightStatus | None,
        bp_labels: set[BpCategory],
    ) -> None:
        rs = self.rs
        # diabetes
        diabetes = overall.diabetes
        if diabetes is Domain.NEEDS_EVALUATION:
            self.recommend("evaluate_hypoglycemia")
        elif diabetes is Domain.PROBABLE_DISEASE:
            self.recommend("confirm_diabetes")
        elif diabetes is Domain.AT_RISK:
            glucose = self.inp.glucose_mg_dl
            casual_positive = (
                self.inp.glucose_context is GlucoseContext.CASUAL
                and glucose is not None
                and rs.glucose_casual.find(dec(glucose)).label is GlucoseCategory.PREDIABETES
            )
            self.recommend(
                "confirm_fasting_glucose" if casual_positive else "prediabetes_follow_up"
            )
        elif diabetes is Domain.HEALTHY:
            self.recommend("rescreen_glucose")
        elif diabetes is Domain.KNOWN_CONTROLLED:
            self.recommend("continue_diabetes_care")
        elif diabetes is Domain.KNOWN_UNCONTROLLED:
            self.recommend("review_diabetes_treatment")
        # hypertension
        hypertension = overall.hypertension
        if hypertension is Domain.PROBABLE_DISEASE and not bp_labels <= rs.bp_urgent:
            stage_1 = bp_labels == {BpCategory.HYPERTENSION_STAGE_1}
            self.recommend("confirm_hypertension_stage_1" if stage_1 else "confirm_hypertension")
        elif hypertension is Domain.AT_RISK:
            self.recommend("bp_lifestyle")
        elif hypertension is Domain.HEALTHY:
            self.recommend("rescreen_bp")
        elif hypertension is Domain.KNOWN_CONTROLLED:
            self.recommend("continue_hypertension_care")
        elif hypertension is Domain.KNOWN_UNCONTROLLED:
            self.recommend("review_hypertension_treatment")
        # obesity
        obesity = overall.obesity
        if obesity is Domain.PROBABLE_DISEASE:
            self.recommend("refer_obesity")
        elif obesity is Domain.AT_RISK:
            self.recommend("weight_lifestyle")
        elif obesity is Domain.KNOWN_CONTROLLED:
            self.recommend("continue_obesity_care")
        elif obesity is Domain.KNOWN_UNCONTROLLED:
            self.recommend("review_obesity_treatment")
        if weight_status is WeightStatus.UNDERWEIGHT:
            self.recommend("evaluate_underweight")
        # dyslipidemia
        if overall.dyslipidemia is Domain.KNOWN_CONTROLLED:
            self.recommend("continue_dyslipidemia_care")
        elif overall.dyslipidemia is Domain.KNOWN_UNCONTROLLED:
            self.recommend("review_dyslipidemia_treatment")

    def completeness(self, overall: Overall) -> None:
        missing = [f for f in _SCREENING_FIELDS if getattr(self.inp, f[0]) is None]
        if missing:
            self.alert(
                "incomplete_screening",
                tuple(f[0] for f in missing),
                fields_es=", ".join(f[1] for f in missing),
                fields_en=", ".join(f[2] for f in missing),
            )
        labels = (overall.obesity, overall.hypertension, overall.diabetes, overall.dyslipidemia)
        if Domain.PROBABLE_DISEASE in labels:
            self.alert("screening_needs_confirmation", ())

    # ------------------------------------------------------------------ FINDRISC

    def findrisc(self, bmi: Decimal | None) -> FindriscResult | None:
        inp = self.inp
        if Diagnosis.DIABETES in self.known:
            return None
        points: dict[str, int | None] = {
            "age": FINDRISC_AGE.find(dec(inp.age)).label if inp.age is not None else None,
            "bmi": FINDRISC_BMI.find(bmi).label if bmi is not None else None,
            "waist": (
                FINDRISC_WAIST[inp.sex].find(dec(inp.waist_cm)).label
                if inp.waist_cm is not None and inp.sex is not None
                else None
            ),
        }
        answers = inp.findrisc
        for row in FINDRISC_ANSWERS:
            points.setdefault(row.item, None)
            given = None if answers is None else getattr(answers, row.field)
            if given is not None and given == row.answer and type(given) is type(row.answer):
                points[row.item] = row.points
        values = list(points.values())
        if any(v is None for v in values):
            return FindriscResult(tuple(points.items()), None, None, None)
        score = sum(v for v in values if v is not None)
        risk_band = FINDRISC_RISK.find(Decimal(score))
        self.cite(risk_band)
        risk, percent = risk_band.label
        return FindriscResult(tuple(points.items()), score, risk, percent)


def _obesity_label(status: WeightStatus, waist: WaistRisk) -> Domain:
    """MIDO obesity domain for a person without known obesity (spec 3.3)."""
    if status is WeightStatus.OBESITY:
        return Domain.PROBABLE_DISEASE
    if status is WeightStatus.OVERWEIGHT or waist is WaistRisk.HIGH:
        return Domain.AT_RISK
    return Domain.HEALTHY


def _opt(value: float | None) -> Decimal | None:
    return None if value is None else dec(value)


def _num_or_dash(value: float | None) -> str:
    return "—" if value is None else _num(value)


def classify(
    data: ClassificationInput | Mapping[str, Any],
    ruleset: str | RuleSetId | RuleSet = "nom",
    *,
    options: ClassifyOptions | None = None,
) -> Classification:
    """Classify one screening under ``ruleset`` (``"nom"``, the default, or ``"aha_ada"``).

    ``data`` is a :class:`ClassificationInput` or its JSON mapping (unknown keys are
    rejected). Raises :class:`cart.errors.ValidationError` naming the field on bad input.
    """
    rs = get_ruleset(ruleset)
    inp = data if isinstance(data, ClassificationInput) else ClassificationInput.from_json(data)
    opts = options if options is not None else ClassifyOptions()
    run = _Run(inp, rs, opts)

    bmi = None
    if inp.weight_kg is not None and inp.height_cm is not None:
        bmi = bmi_value(inp.weight_kg, inp.height_cm)
    statuses = run.weight_status(bmi)
    weight_status = _single(statuses)
    obesity_grade = None
    if bmi is not None:
        grade_band = OBESITY_GRADE.find(bmi)
        obesity_grade = grade_band.label
        if obesity_grade is not None:
            run.cite(grade_band)
    waists = run.waist_risk()
    waist_risk = _single(waists)

    whtr = whtr_risk = None
    if inp.waist_cm is not None and inp.height_cm is not None:
        whtr = waist_to_height_value(inp.waist_cm, inp.height_cm)
        whtr_band = WHTR.find(whtr)
        whtr_risk = whtr_band.label
        run.cite(whtr_band)

    bp_labels, sbp, dbp = run.bp()
    bp_category = _single(bp_labels)
    glucose_labels = run.glucose()
    glucose_category = _single(glucose_labels)

    urgent = run.urgent(sbp, dbp)
    overall = Overall(
        obesity=run.obesity_domain(bmi, statuses, waists),
        hypertension=run.hypertension_domain(bp_labels),
        diabetes=run.diabetes_domain(glucose_labels),
        dyslipidemia=run.dyslipidemia_domain(),
        urgent_attention=urgent,
    )
    run.advise(overall, weight_status, bp_labels)
    findrisc = run.findrisc(bmi)
    run.completeness(overall)

    return Classification(
        ruleset=rs.id,
        ruleset_version=rs.version,
        options=opts,
        bmi=bmi,
        weight_status=weight_status,
        obesity_grade=obesity_grade,
        waist_risk=waist_risk,
        bp_category=bp_category,
        glucose_category=glucose_category,
        overall=overall,
        alerts=_ordered_alerts(run.alerts),
        recommendations=tuple(run.recommendations),
        references=ordered_references(run.refs),
        waist_to_height_ratio=whtr,
        waist_to_height_risk=whtr_risk,
        findrisc=findrisc,
    )


_SEVERITY_ORDER = ("urgent", "warning", "info")


def _ordered_alerts(alerts: list[Alert]) -> tuple[Alert, ...]:
    """Urgent first, then warnings, then information; stable within a severity."""
    return tuple(sorted(alerts, key=lambda a: _SEVERITY_ORDER.index(a.severity.value)))
