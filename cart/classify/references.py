"""The sources the rule tables cite, by id.

Every rule row carries a ``citation`` (the exact place: section, table, quoted words)
and ``refs``: ids of this catalogue. A classification lists, in catalogue order, the
references of the rows that produced it. Section numbers marked ``(§?)`` in a
citation were not checked against the DOF text (classification-rules.md section 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["REFERENCES", "Reference", "get_reference", "ordered_references"]


@dataclass(frozen=True, slots=True)
class Reference:
    id: str
    """Stable id used by rule rows, e.g. ``nom_015_ssa2_2010``."""
    citation: str
    """Human-readable bibliographic citation."""
    url: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"id": self.id, "citation": self.citation, "url": self.url}


REFERENCES: tuple[Reference, ...] = (
    Reference(
        "nom_008_ssa3_2017",
        "NOM-008-SSA3-2017, Para el tratamiento integral del sobrepeso y la obesidad. "
        "Diario Oficial de la Federación.",
    ),
    Reference(
        "nom_030_ssa2_2009",
        "NOM-030-SSA2-2009, Para la prevención, detección, diagnóstico, tratamiento y control "
        "de la hipertensión arterial sistémica. Diario Oficial de la Federación.",
    ),
    Reference(
        "proy_nom_030_ssa2_2017",
        "PROY-NOM-030-SSA2-2017, Para la prevención, detección, diagnóstico, tratamiento y "
        "control de la hipertensión arterial sistémica. DOF 19/04/2017.",
    ),
    Reference(
        "nom_015_ssa2_2010",
        "NOM-015-SSA2-2010, Para la prevención, tratamiento y control de la diabetes mellitus. "
        "DOF 23/11/2010.",
    ),
    Reference(
        "nom_037_ssa2_2012",
        "NOM-037-SSA2-2012, Para la prevención, tratamiento y control de las dislipidemias. "
        "DOF 13/07/2012.",
    ),
    Reference(
        "who_trs_894",
        "World Health Organization. Obesity: preventing and managing the global epidemic. "
        "WHO Technical Report Series 894. Geneva, 2000 (Table 2.1).",
    ),
    Reference(
        "esh_2023",
        "Mancia G, et al. 2023 ESH Guidelines for the management of arterial hypertension. "
        "J Hypertens 2023;41.",
    ),
    Reference(
        "acc_aha_2017",
        "Whelton PK, et al. 2017 ACC/AHA/AAPA/ABC/ACPM/AGS/APhA/ASH/ASPC/NMA/PCNA Guideline for "
        "the Prevention, Detection, Evaluation, and Management of High Blood Pressure in "
        "Adults. Hypertension 2018;71:e13-e115 (Table 6, Table 23).",
        "https://doi.org/10.1161/HYP.0000000000000065",
    ),
    Reference(
        "ada_2025_s2",
        "American Diabetes Association Professional Practice Committee. 2. Diagnosis and "
        "Classification of Diabetes: Standards of Care in Diabetes-2025. Diabetes Care "
        "2025;48(Suppl. 1) (Tables 2.1, 2.2).",
    ),
    Reference(
        "ada_2025_s6",
        "American Diabetes Association Professional Practice Committee. 6. Glycemic Goals and "
        "Hypoglycemia: Standards of Care in Diabetes-2025. Diabetes Care 2025;48(Suppl. 1) "
        "(Table 6.3, classification of hypoglycemia).",
    ),
    Reference(
        "ada_2025_s10",
        "American Diabetes Association Professional Practice Committee. 10. Cardiovascular "
        "Disease and Risk Management: Standards of Care in Diabetes-2025. Diabetes Care "
        "2025;48(Suppl. 1).",
    ),
    Reference(
        "kitabchi_2009",
        "Kitabchi AE, Umpierrez GE, Miles JM, Fisher JN. Hyperglycemic crises in adult "
        "patients with diabetes. Diabetes Care 2009;32:1335-1343.",
    ),
    Reference(
        "idf_2006",
        "International Diabetes Federation. The IDF consensus worldwide definition of the "
        "metabolic syndrome. Brussels, 2006 (ethnic-specific waist values).",
    ),
    Reference(
        "jis_2009",
        "Alberti KGMM, et al. Harmonizing the metabolic syndrome (IDF/NHLBI/AHA/WHF/IAS/IASO "
        "joint interim statement). Circulation 2009;120:1640-1645.",
    ),
    Reference(
        "aha_nhlbi_2005",
        "Grundy SM, et al. Diagnosis and management of the metabolic syndrome: an American "
        "Heart Association/National Heart, Lung, and Blood Institute Scientific Statement. "
        "Circulation 2005;112:2735-2752.",
    ),
    Reference(
        "ashwell_2012",
        "Ashwell M, Gunn P, Gibson S. Waist-to-height ratio is a better screening tool than "
        "waist circumference and BMI for adult cardiometabolic risk factors: systematic "
        "review and meta-analysis. Obes Rev 2012;13:275-286.",
    ),
    Reference(
        "ashwell_hsieh_2005",
        "Ashwell M, Hsieh SD. Six reasons why the waist-to-height ratio is a rapid and "
        "effective global indicator for health risks of obesity. Int J Food Sci Nutr "
        "2005;56:303-307.",
    ),
    Reference(
        "lindstrom_2003",
        "Lindström J, Tuomilehto J. The diabetes risk score: a practical tool to predict "
        "type 2 diabetes risk. Diabetes Care 2003;26:725-731.",
        "https://doi.org/10.2337/diacare.26.3.725",
    ),
    Reference(
        "mido_brief",
        "MIDO (Medición Integrada para la Detección Oportuna) control indicators from the "
        "project brief: HbA1c < 7 %, BP < 140/90 mmHg, BMI < 30 kg/m², total cholesterol "
        "< 200 mg/dL and LDL < 100 mg/dL. Programme: Gallardo-Rincón H, et al. BMJ Open "
        "2021;11:e049836.",
    ),
    Reference(
        "service_policy",
        "mido-cart service convention (a policy of this service, not a norm; see "
        "docs/classification.md).",
    ),
)

_BY_ID: dict[str, Reference] = {ref.id: ref for ref in REFERENCES}
_ORDER: dict[str, int] = {ref.id: index for index, ref in enumerate(REFERENCES)}


def get_reference(ref_id: str) -> Reference:
    """The reference with this id; ``KeyError`` for an unknown id (a bug in a table)."""
    return _BY_ID[ref_id]


def ordered_references(ref_ids: Iterable[str]) -> tuple[Reference, ...]:
    """Deduplicated references in catalogue order (deterministic output)."""
    return tuple(_BY_ID[i] for i in sorted(set(ref_ids), key=_ORDER.__getitem__))
