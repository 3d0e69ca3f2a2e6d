"""What the nurse reads: alert and recommendation catalogues (Spanish and English).

Each entry is a row with its trigger (``when``, for the docs), templates and the
references behind the advice. Re-screening intervals: the ACC/AHA ones (Table 23) and
ADA's 3-year interval are published; the NOM-030 ones were not verified against the DOF
text (spec section 9) and are flagged in ``docs/classification.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cart.classify.labels import RuleSetId, Severity

__all__ = [
    "ALERTS",
    "RECOMMENDATIONS",
    "AlertRule",
    "RecommendationRule",
    "alert_rule",
    "recommendation_rule",
]

_BOTH = frozenset(RuleSetId)
_NOM = frozenset({RuleSetId.NOM})
_AHA = frozenset({RuleSetId.AHA_ADA})


@dataclass(frozen=True)
class AlertRule:
    code: str
    severity: Severity
    when: str
    es: str
    """``str.format`` template; placeholders are filled by the engine."""
    en: str


@dataclass(frozen=True)
class RecommendationRule:
    code: str
    domain: str
    when: str
    es: str
    en: str
    months: int | None
    refs: tuple[str, ...]
    rulesets: frozenset[RuleSetId] = _BOTH
    interval_verified: bool = True
    """False when the interval comes from unverified notes (spec section 9)."""


ALERTS: tuple[AlertRule, ...] = (
    AlertRule(
        "hypoglycemia_level_2",
        Severity.URGENT,
        "glucose < 54 mg/dL",
        "Hipoglucemia nivel 2: glucosa de {glucose} mg/dL (menor de 54). Atención inmediata.",
        "Level 2 hypoglycemia: glucose {glucose} mg/dL (below 54). Immediate attention.",
    ),
    AlertRule(
        "hypoglycemia_level_1",
        Severity.URGENT,
        "54 ≤ glucose < 70 mg/dL",
        "Hipoglucemia nivel 1: glucosa de {glucose} mg/dL (menor de 70). Atención inmediata.",
        "Level 1 hypoglycemia: glucose {glucose} mg/dL (below 70). Immediate attention.",
    ),
    AlertRule(
        "severe_hyperglycemia",
        Severity.URGENT,
        "glucose ≥ urgent_glucose_high (250 mg/dL by default)",
        "Glucosa muy alta: {glucose} mg/dL (igual o mayor de {threshold}). Valoración médica "
        "el mismo día.",
        "Very high glucose: {glucose} mg/dL (at or above {threshold}). Same-day medical "
        "evaluation.",
    ),
    AlertRule(
        "severe_hypertension",
        Severity.URGENT,
        "`nom`: SBP ≥ 180 or DBP ≥ 110 (grade 3)",
        "Presión arterial muy alta: {bp} mmHg (hipertensión grado 3, 180/110 o más). "
        "Valoración médica el mismo día.",
        "Very high blood pressure: {bp} mmHg (grade 3 hypertension, 180/110 or above). "
        "Same-day medical evaluation.",
    ),
    AlertRule(
        "hypertensive_crisis",
        Severity.URGENT,
        "`aha_ada`: SBP > 180 or DBP > 120",
        "Presión arterial en rango de crisis hipertensiva: {bp} mmHg (mayor de 180/120). "
        "Valoración médica el mismo día.",
        "Blood pressure in the hypertensive-crisis range: {bp} mmHg (above 180/120). Same-day "
        "medical evaluation.",
    ),
    AlertRule(
        "glucose_context_missing",
        Severity.WARNING,
        "glucose given without glucose_context",
        "No se indicó si la glucosa fue en ayuno o casual: la categoría solo se informa si "
        "ambos criterios coinciden.",
        "Fasting or casual was not stated for the glucose: the category is reported only "
        "when both criteria agree.",
    ),
    AlertRule(
        "incomplete_screening",
        Severity.INFO,
        "a screening measurement or sex/age is missing",
        "Faltan datos: {fields_es}. Los resultados que dependen de ellos quedan vacíos.",
        "Missing data: {fields_en}. The results that depend on them are left empty.",
    ),
    AlertRule(
        "short_stature",
        Severity.INFO,
        "`nom`: women < 150 cm, men < 160 cm",
        "Talla baja ({height} cm): se aplican los puntos de corte de IMC de la NOM-008 para "
        "talla baja (sobrepeso desde 23, obesidad desde 25).",
        "Short stature ({height} cm): the NOM-008 short-stature BMI cut-offs apply "
        "(overweight from 23, obesity from 25).",
    ),
    AlertRule(
        "isolated_systolic_hypertension",
        Severity.INFO,
        "`nom`: SBP ≥ 140 and DBP < 90",
        "Hipertensión sistólica aislada (sistólica de 140 o más con diastólica menor de 90); "
        "se clasifica por la sistólica.",
        "Isolated systolic hypertension (systolic 140 or above with diastolic below 90); "
        "graded by the systolic value.",
    ),
    AlertRule(
        "screening_needs_confirmation",
        Severity.INFO,
        "any `overall` label is probable_disease",
        "Resultado de tamizaje en una sola visita: lo 'probable' requiere confirmación "
        "diagnóstica por el médico.",
        "Single-visit screening result: anything 'probable' needs diagnostic confirmation "
        "by a physician.",
    ),
)

_URGENT_SYMPTOMS_ES = (
    "si hay dolor de pecho, falta de aire, debilidad o dificultad para hablar, confusión o "
    "alteraciones de la vista, llame a los servicios de urgencia"
)
_URGENT_SYMPTOMS_EN = (
    "if there is chest pain, shortness of breath, weakness or trouble speaking, confusion "
    "or visual disturbance, call emergency services"
)

RECOMMENDATIONS: tuple[RecommendationRule, ...] = (
    # ----------------------------------------------------------------- diabetes
    RecommendationRule(
        "treat_hypoglycemia",
        "diabetes",
        "glucose < 70 mg/dL",
        "Dé 15 a 20 g de glucosa de acción rápida (tabletas de glucosa o jugo), vuelva a medir "
        "a los 15 minutos y envíe a valoración médica el mismo día.",
        "Give 15-20 g of fast-acting glucose (glucose tablets or juice), recheck after 15 "
        "minutes and refer for same-day medical evaluation.",
        None,
        ("ada_2025_s6",),
    ),
    RecommendationRule(
        "evaluate_hypoglycemia",
        "diabetes",
        "overall.diabetes = needs_evaluation",
        "Hipoglucemia sin diagnóstico de diabetes: el médico debe buscar la causa.",
        "Hypoglycemia without known diabetes: a physician must look for the cause.",
        None,
        ("ada_2025_s6",),
    ),
    RecommendationRule(
        "refer_severe_hyperglycemia",
        "diabetes",
        "glucose ≥ urgent_glucose_high",
        "Envíe a valoración médica el mismo día para descartar una crisis hiperglucémica "
        "(cetoacidosis o estado hiperosmolar).",
        "Refer for same-day medical evaluation to rule out a hyperglycemic crisis "
        "(ketoacidosis or hyperosmolar state).",
        None,
        ("kitabchi_2009", "service_policy"),
    ),
    RecommendationRule(
        "confirm_diabetes",
        "diabetes",
        "overall.diabetes = probable_disease",
        "Probable diabetes: confirme en otro día con glucosa plasmática de ayuno o HbA1c y "
        "refiera al médico para el diagnóstico.",
        "Probable diabetes: confirm on another day with a fasting plasma glucose or HbA1c and "
        "refer to a physician for the diagnosis.",
        None,
        ("nom_015_ssa2_2010", "ada_2025_s2"),
    ),
    RecommendationRule(
        "confirm_fasting_glucose",
        "diabetes",
        "overall.diabetes = at_risk from a casual glucose of 140-199 mg/dL",
        "Glucosa casual de 140 mg/dL o más: mida glucosa plasmática de ayuno (o HbA1c) para "
        "confirmar.",
        "Casual glucose of 140 mg/dL or more: measure a fasting plasma glucose (or HbA1c) to "
        "confirm.",
        None,
        ("nom_015_ssa2_2010",),
    ),
    RecommendationRule(
        "prediabetes_follow_up",
        "diabetes",
        "overall.diabetes = at_risk from a fasting glucose or HbA1c",
        "Probable prediabetes: confirme con una segunda prueba, dé orientación sobre "
        "alimentación, actividad física y peso, y repita la prueba cada año.",
        "Probable prediabetes: confirm with a second test, counsel on diet, physical activity "
        "and weight, and repeat the test every year.",
        12,
        ("ada_2025_s2", "nom_015_ssa2_2010"),
    ),
    RecommendationRule(
        "rescreen_glucose",
        "diabetes",
        "overall.diabetes = healthy",
        "Glucosa normal: repita el tamizaje en 3 años (antes si hay factores de riesgo).",
        "Normal glucose: repeat the screening in 3 years (sooner with risk factors).",
        36,
        ("ada_2025_s2", "nom_015_ssa2_2010"),
    ),
    RecommendationRule(
        "continue_diabetes_care",
        "diabetes",
        "overall.diabetes = known_controlled",
        "Diabetes dentro de la meta de control: continúe con su tratamiento y sus consultas "
        "de control.",
        "Diabetes within the control goal: continue treatment and follow-up visits.",
        None,
        ("nom_015_ssa2_2010",),
    ),
    RecommendationRule(
        "review_diabetes_treatment",
        "diabetes",
        "overall.diabetes = known_uncontrolled",
        "Diabetes fuera de la meta de control: refiera a su médico para revisar el tratamiento.",
        "Diabetes outside the control goal: refer to the treating physician to review the "
        "treatment.",
        None,
        ("nom_015_ssa2_2010",),
    ),
    # ----------------------------------------------------------------- hypertension
    RecommendationRule(
        "refer_severe_hypertension",
        "hypertension",
        "urgent blood pressure (grade 3 / hypertensive crisis)",
        f"Envíe a valoración médica el mismo día; {_URGENT_SYMPTOMS_ES}.",
        f"Refer for same-day medical evaluation; {_URGENT_SYMPTOMS_EN}.",
        None,
        ("nom_030_ssa2_2009", "esh_2023", "acc_aha_2017"),
    ),
    RecommendationRule(
        "confirm_hypertension",
        "hypertension",
        "overall.hypertension = probable_disease, `nom`",
        "Probable hipertensión: confirme con el promedio de al menos dos mediciones en al "
        "menos dos visitas y refiera al médico.",
        "Probable hypertension: confirm with the mean of at least two readings on at least "
        "two visits and refer to a physician.",
        None,
        ("nom_030_ssa2_2009",),
        rulesets=_NOM,
    ),
    RecommendationRule(
        "confirm_hypertension",
        "hypertension",
        "overall.hypertension = probable_disease, `aha_ada`, stage 2 (or stage not known)",
        "Probable hipertensión: confirme con el promedio de varias mediciones y refiera al "
        "médico para valoración dentro de 1 mes.",
        "Probable hypertension: confirm with the mean of several readings and refer to a "
        "physician for evaluation within 1 month.",
        1,
        ("acc_aha_2017",),
        rulesets=_AHA,
    ),
    RecommendationRule(
        "confirm_hypertension_stage_1",
        "hypertension",
        "overall.hypertension = probable_disease, `aha_ada`, stage 1",
        "Probable hipertensión etapa 1: confirme con el promedio de varias mediciones y "
        "refiera al médico para estimar el riesgo cardiovascular; con riesgo bajo se "
        "reevalúa en 3 a 6 meses, con riesgo alto, diabetes o enfermedad renal en 1 mes.",
        "Probable stage 1 hypertension: confirm with the mean of several readings and refer "
        "to a physician to estimate the cardiovascular risk; at low risk reassess in 3-6 "
        "months, at high risk or with diabetes or kidney disease in 1 month.",
        None,
        ("acc_aha_2017",),
        rulesets=_AHA,
    ),
    RecommendationRule(
        "bp_lifestyle",
        "hypertension",
        "overall.hypertension = at_risk, `nom` (high_normal)",
        "Presión arterial fronteriza: dé orientación sobre alimentación con poca sal, "
        "actividad física y peso, y vuelva a medir en 1 año.",
        "High-normal blood pressure: counsel on a low-salt diet, physical activity and "
        "weight, and measure again in 1 year.",
        12,
        ("nom_030_ssa2_2009",),
        rulesets=_NOM,
        interval_verified=False,
    ),
    RecommendationRule(
        "bp_lifestyle",
        "hypertension",
        "overall.hypertension = at_risk, `aha_ada` (elevated)",
        "Presión arterial elevada: dé orientación sobre alimentación con poca sal, actividad "
        "física y peso, y vuelva a medir en 3 a 6 meses.",
        "Elevated blood pressure: counsel on a low-salt diet, physical activity and weight, "
        "and measure again in 3-6 months.",
        3,
        ("acc_aha_2017",),
        rulesets=_AHA,
    ),
    RecommendationRule(
        "rescreen_bp",
        "hypertension",
        "overall.hypertension = healthy, `nom`",
        "Presión arterial normal: vuelva a medir en 1 año.",
        "Normal blood pressure: measure again in 1 year.",
        12,
        ("nom_030_ssa2_2009",),
        rulesets=_NOM,
        interval_verified=False,
    ),
    RecommendationRule(
        "rescreen_bp",
        "hypertension",
        "overall.hypertension = healthy, `aha_ada`",
        "Presión arterial normal: vuelva a medir en 1 año.",
        "Normal blood pressure: measure again in 1 year.",
        12,
        ("acc_aha_2017",),
        rulesets=_AHA,
    ),
    RecommendationRule(
        "continue_hypertension_care",
        "hypertension",
        "overall.hypertension = known_controlled",
        "Hipertensión dentro de la meta de control: continúe con su tratamiento y sus "
        "consultas de control.",
        "Hypertension within the control goal: continue treatment and follow-up visits.",
        None,
        ("nom_030_ssa2_2009", "acc_aha_2017"),
    ),
    RecommendationRule(
        "review_hypertension_treatment",
        "hypertension",
        "overall.hypertension = known_uncontrolled",
        "Hipertensión fuera de la meta de control: refiera a su médico para revisar el "
        "tratamiento.",
        "Hypertension outside the control goal: refer to the treating physician to review "
        "the treatment.",
        None,
        ("nom_030_ssa2_2009", "acc_aha_2017"),
    ),
    # ----------------------------------------------------------------- obesity
    RecommendationRule(
        "refer_obesity",
        "obesity",
        "overall.obesity = probable_disease",
        "Probable obesidad: dé orientación sobre alimentación y actividad física y refiera "
        "al médico o nutriólogo para valoración.",
        "Probable obesity: counsel on diet and physical activity and refer to a physician or "
        "dietitian for evaluation.",
        None,
        ("nom_008_ssa3_2017",),
    ),
    RecommendationRule(
        "weight_lifestyle",
        "obesity",
        "overall.obesity = at_risk",
        "Sobrepeso u obesidad abdominal: dé orientación sobre alimentación saludable y "
        "actividad física.",
        "Overweight or abdominal obesity: counsel on healthy eating and physical activity.",
        None,
        ("nom_008_ssa3_2017",),
    ),
    RecommendationRule(
        "evaluate_underweight",
        "obesity",
        "weight_status = underweight",
        "Bajo peso: refiera a valoración nutricional.",
        "Underweight: refer for a nutritional assessment.",
        None,
        ("who_trs_894",),
    ),
    RecommendationRule(
        "continue_obesity_care",
        "obesity",
        "overall.obesity = known_controlled",
        "Obesidad en control (IMC menor de 30): continúe con su plan de alimentación y "
        "actividad física.",
        "Obesity under control (BMI below 30): continue the diet and activity plan.",
        None,
        ("mido_brief",),
    ),
    RecommendationRule(
        "review_obesity_treatment",
        "obesity",
        "overall.obesity = known_uncontrolled",
        "Obesidad fuera de la meta de control (IMC de 30 o más): refiera a su médico para "
        "revisar el tratamiento.",
        "Obesity outside the control goal (BMI 30 or above): refer to the treating physician "
        "to review the treatment.",
        None,
        ("mido_brief", "nom_008_ssa3_2017"),
    ),
    # ----------------------------------------------------------------- dyslipidemia
    RecommendationRule(
        "continue_dyslipidemia_care",
        "dyslipidemia",
        "overall.dyslipidemia = known_controlled",
        "Dislipidemia dentro de la meta de control: continúe con su tratamiento.",
        "Dyslipidemia within the control goal: continue treatment.",
        None,
        ("mido_brief",),
    ),
    RecommendationRule(
        "review_dyslipidemia_treatment",
        "dyslipidemia",
        "overall.dyslipidemia = known_uncontrolled",
        "Dislipidemia fuera de la meta de control (colesterol total menor de 200 y LDL menor "
        "de 100): refiera a su médico para revisar el tratamiento.",
        "Dyslipidemia outside the control goal (total cholesterol below 200 and LDL below "
        "100): refer to the treating physician to review the treatment.",
        None,
        ("mido_brief", "nom_037_ssa2_2012"),
    ),
)


def alert_rule(code: str) -> AlertRule:
    for rule in ALERTS:
        if rule.code == code:
            return rule
    raise KeyError(code)


def recommendation_rule(code: str, ruleset: RuleSetId) -> RecommendationRule:
    for rule in RECOMMENDATIONS:
        if rule.code == code and ruleset in rule.rulesets:
            return rule
    raise KeyError((code, ruleset))
