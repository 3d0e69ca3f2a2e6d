"""One completed screening -> one FHIR R4 transaction Bundle (HL7 PHD IG style).

Entries, in order, every one a conditional create (``POST`` + ``ifNoneExist``) on a
deterministic identifier, so a resend gets ``200`` and the existing resources::

    Patient          identifier = CURP (urn:oid:2.16.840.1.113883.4.629)
    Device (gateway) the cart PC, MDC 531981; Observation.extension gatewayDevice -> it
    Device (PHD)     one per measuring device, MDC 65573 + specialization (BPM, scale, glucose)
    Observation      one per measurement, LOINC + MDC codes, UCUM valueQuantity;
                     BP as panel 85354-9 with systolic/diastolic/mean components,
                     pulse a separate 8867-4; specials -> dataAbsentReason; device flags
                     -> interpretation; manual entries -> method, no device
    Practitioner     each nurse who measured, typed or completed (cédula profesional)
    Condition        each diagnosis the person already had (SNOMED CT + ICD-10), active
    RiskAssessment   the MIDO classification, basis -> the Observations and Conditions

Business identifiers (``identifier``) and transaction ``fullUrl``s are different things:

* ``fullUrl``: a fresh ``urn:uuid`` per send. A server resolves it and may rewrite
  every string that equals it (R4 http.html, transaction processing), so no identifier
  may ever equal one;
* Observation identifier (PHD IG ``PhdBaseObservation``): device identity, cart id,
  patient key, the *device-reported* timestamp and the type code joined by ``-``
  (plus the device's record number when it keeps one). The device clock, not the
  corrected ``effective``, so a meter that replays its memory into a later screening
  maps to the same Observation. A reading without a device timestamp (or typed in)
  uses the reading's UUID minted (and stored) at capture instead of the timestamp;
* Device: manufacturer + model + serial when the device reports a serial, else the
  cart id + the configured device id; Patient: the CURP;
* Condition: patient key + diagnosis (the same fact from any cart);
* RiskAssessment: cart id + patient key + screening id + completion instant.

The patient key is a hash of the CURP, so the CURP stays out of search URLs. Every
identifier is the same on every resend of the same data. The Bundle is a pure function
of its input except the fullUrls. No FHIR library is needed at run time; the tests
validate every Bundle with ``fhir.resources`` (R4B) and with Medplum's profile
validator (R4 core + vital signs).

``RiskAssessment`` is matched on ``_tag`` (its identifier repeated in ``meta.tag``)
rather than ``identifier``: R4 defines ``RiskAssessment?identifier`` but servers do not
all index it (sekmet-fhir 0.1.1 does not), while ``_tag`` is common to every type.

Times: ``effectiveDateTime`` is the corrected instant in the cart's zone
(``Settings.timezone``), so it carries that zone's offset on that date.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Final

from cart import wallclock
from cart.classify.rules import dec
from cart.classify.tables import URGENT_GLUCOSE_HIGH, URGENT_GLUCOSE_LOW
from cart.measurement import KIND_INFO, MeasurementKind
from cart.sic import codes as C
from cart.sic.fhirjson import quantity_value
from cart.sic.model import (
    ExportMeasurement,
    ExportPatient,
    GatewayIdentity,
    MappingError,
    ScreeningExport,
)

__all__ = ["ID_NAMESPACE", "build_bundle", "fresh_full_url", "observation_identifier"]

ID_NAMESPACE: Final = uuid.UUID("0b4bd2a4-1b3e-5c36-8f57-7f8d6f5b1c2e")
"""Namespace of the builder's internal keys (which resource is which inside one Bundle)."""

Resource = dict[str, Any]


def _urn(*parts: object) -> str:
    key = "\x1f".join("" if p is None else str(p) for p in parts)
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, key)}"


def _ident(system: str, value: str) -> list[dict[str, str]]:
    return [{"system": system, "value": value}]


def fresh_full_url() -> str:
    """A new ``urn:uuid`` for one entry of one send."""
    return f"urn:uuid:{uuid.uuid4()}"


def patient_key(curp: str) -> str:
    """Scopes identifiers by patient without putting the CURP in them (or in search URLs)."""
    return hashlib.sha256(f"mido-cart/curp/{curp}".encode()).hexdigest()[:16]


def _phd_time(value: datetime) -> str:
    """A device timestamp as it was reported (no zone; devices know none)."""
    return value.replace(tzinfo=None).strftime("%Y%m%dT%H%M%S")


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _dt(value: datetime, zone: tzinfo) -> str:
    """FHIR dateTime with the cart zone's offset; naive datetimes are wall time there."""
    aware = value.astimezone(zone) if value.tzinfo is not None else value.replace(tzinfo=zone)
    return aware.isoformat(timespec="seconds")


class _Builder:
    def __init__(self, export: ScreeningExport, gateway: GatewayIdentity, zone: tzinfo) -> None:
        if export.patient is None:
            raise MappingError(f"screening {export.screening_id} has no patient")
        self.export = export
        self.patient: ExportPatient = export.patient
        self.gateway = gateway
        self.zone = zone
        self.pkey = patient_key(self.patient.curp)
        self.entries: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.patient_ref = _urn("patient", self.patient.curp)
        self.gateway_ref = _urn("gateway", gateway.system_id)
        self.device_refs: dict[str, str] = {}
        self.observation_refs: list[str] = []
        self.refs_by_kind: dict[str, str] = {}
        self.singles: dict[str, list[str]] = {}
        self.condition_refs: list[str] = []
        self.practitioner_refs: dict[int, str] = {}
        self.glucose_high = urgent_glucose_high(export.classification)

    # ------------------------------------------------------------------ entries

    def _add(self, full_url: str, resource: Resource, if_none_exist: str) -> bool:
        """Add one conditional-create entry; False when the same resource is already in."""
        if full_url in self.seen:
            return False
        self.seen.add(full_url)
        self.entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {
                    "method": "POST",
                    "url": resource["resourceType"],
                    "ifNoneExist": if_none_exist,
                },
            }
        )
        return True

    def add_patient(self) -> None:
        p = self.patient
        resource: Resource = {
            "resourceType": "Patient",
            "identifier": [
                {
                    "use": "official",
                    "type": {"text": "CURP"},
                    "system": C.CURP_SYSTEM,
                    "value": p.curp,
                }
            ],
            "name": [{"use": "official", "family": p.family_name, "given": [p.given_name]}],
            "gender": _gender(p.sex),
            "birthDate": p.birth_date.isoformat(),
        }
        self._add(self.patient_ref, resource, f"identifier={C.CURP_SYSTEM}|{p.curp}")

    def add_gateway(self) -> None:
        g = self.gateway
        resource: Resource = {
            "resourceType": "Device",
            "identifier": _ident(C.DEVICE_ID_SYSTEM, gateway_identifier(g)),
            "deviceName": [{"name": g.name, "type": "user-friendly-name"}],
            "manufacturer": "mido-cart",
            "modelNumber": "MIDO screening cart",
            "serialNumber": g.system_id,
            "type": {
                "coding": [_coding(C.MDC, C.MDC_PHG[0], C.MDC_PHG[1])],
                "text": "Personal health gateway (MIDO screening cart)",
            },
            "version": [{"type": {"text": "software"}, "value": g.software_version}],
        }
        self._add(
            self.gateway_ref,
            resource,
            f"identifier={C.DEVICE_ID_SYSTEM}|{gateway_identifier(g)}",
        )

    def coincident_for(self, m: ExportMeasurement, device: str) -> str | None:
        """PHD IG coincident timestamp: the device's clock next to the cart's, when the
        device clock was read (``clock_offset_s``) and its times were mapped with it."""
        if m.clock_offset_s is None or m.device_time is None:
            return None
        cart_time = m.received_at.astimezone(self.zone)
        device_clock = cart_time + timedelta(seconds=m.clock_offset_s)
        identifier = "-".join(
            [
                device_identifier(m, self.gateway),
                gateway_identifier(self.gateway),
                "coincident",
                cart_time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"),
            ]
        )
        ref = _urn("coincident", identifier)
        resource: Resource = {
            "resourceType": "Observation",
            "identifier": _ident(C.OBS_ID_SYSTEM, identifier),
            "status": "final",
            "code": {
                "coding": [_coding(C.MDC, C.MDC_TIME_ABS[0], C.MDC_TIME_ABS[1])],
                "text": "Device clock at the time the cart read it",
            },
            "subject": {"reference": device},
            "effectiveDateTime": _dt(cart_time, self.zone),
            # devices know no zone: their wall clock is read in the cart's
            "valueDateTime": _dt(device_clock.replace(tzinfo=None), self.zone),
            "extension": [
                {"url": C.GATEWAY_EXTENSION, "valueReference": {"reference": self.gateway_ref}}
            ],
        }
        self._add(ref, resource, f"identifier={C.OBS_ID_SYSTEM}|{identifier}")
        return ref

    def device_for(self, m: ExportMeasurement) -> str | None:
        """The Device entry of the measuring device (added once); None for manual entries."""
        if m.manual_entry or (m.device_id is None and not m.device):
            return None
        info = dict(m.device or {})
        serial = info.get("serial_number")
        if serial:
            ref = _urn("device", info.get("manufacturer"), info.get("model"), serial)
        else:
            ref = _urn("device", self.gateway.system_id, m.device_id or m.protocol)
        if ref in self.device_refs.values():
            return ref
        self.device_refs[m.device_id or ref] = ref
        key = device_identifier(m, self.gateway)
        resource: Resource = {
            "resourceType": "Device",
            "identifier": _ident(C.DEVICE_ID_SYSTEM, key),
            "type": {"coding": [_coding(C.MDC, C.MDC_PHD[0], C.MDC_PHD[1])]},
        }
        if info.get("manufacturer"):
            resource["manufacturer"] = str(info["manufacturer"])
        if info.get("model"):
            resource["modelNumber"] = str(info["model"])
        if serial:
            resource["serialNumber"] = str(serial)
        names = [n for n in (m.device_id, m.protocol) if n]
        if names:
            resource["deviceName"] = [{"name": names[0], "type": "user-friendly-name"}]
        spec = C.KIND_CODES.get(m.kind)
        if spec is not None and spec.specialization is not None:
            code, ref_id = spec.specialization
            resource["specialization"] = [
                {"systemType": {"coding": [_coding(C.MDC, code, ref_id)]}, "version": "1"}
            ]
        if m.protocol:
            resource["property"] = [
                {"type": {"text": "protocol"}, "valueCode": [{"text": m.protocol}]}
            ]
        self._add(ref, resource, f"identifier={C.DEVICE_ID_SYSTEM}|{key}")
        return ref

    # ------------------------------------------------------------------ observations

    def _base_observation(
        self, identifier: str, rows: Sequence[ExportMeasurement], code: Resource, category: str
    ) -> Resource:
        first = rows[0]
        obs: Resource = {
            "resourceType": "Observation",
            "identifier": _ident(C.OBS_ID_SYSTEM, identifier),
            "status": "final",
            "category": [{"coding": [_coding(C.OBS_CATEGORY, category)]}],
            "code": code,
            "subject": {"reference": self.patient_ref},
            "effectiveDateTime": _dt(first.measured_at or first.received_at, self.zone),
            "extension": [
                {"url": C.GATEWAY_EXTENSION, "valueReference": {"reference": self.gateway_ref}}
            ],
        }
        performer = self.performer_of(rows)
        if performer:
            obs["performer"] = performer
        flags = sorted({f for r in rows for f in r.flags})
        device = self.device_for(first)
        if device is not None:
            obs["device"] = {"reference": device}
            # PHD IG: the "phd" category slice marks what a personal health device measured
            obs["category"].append({"coding": [_coding(C.PHD_CATEGORY, "phd")]})
            coincident = self.coincident_for(first, device)
            if coincident is not None:  # the time mapping this effective time went through
                obs["derivedFrom"] = [{"reference": coincident}]
        if "calculated" in flags:
            obs["method"] = {
                "coding": [_coding(C.CS_METHOD, "calculated", "Calculated by the cart")],
                "text": "Calculado de peso y talla",
            }
        elif first.manual_entry or "manual_entry" in flags:
            obs["method"] = {
                "coding": [_coding(C.CS_METHOD, "manual-entry", "Entered by hand")],
                "text": "Captura manual",
            }
        elif "average" in flags:
            count = first.context.get("readings", "")
            obs["method"] = {
                "coding": [_coding(C.CS_METHOD, "average", "Mean of several readings")],
                "text": f"Promedio de {count} lecturas (NOM-030)".replace("de  ", "de "),
            }
        interpretation = _interpretation([f for f in flags if f not in C.METHOD_FLAGS])
        if interpretation:
            obs["interpretation"] = interpretation
        if C.TEST_DATA_FLAGS.intersection(flags):
            obs["meta"] = {"security": [_coding(C.ACT_REASON, "HTEST", "test health data")]}
        notes = [_note(r) for r in rows]
        notes = [n for n in notes if n]
        if notes:
            obs["note"] = [{"text": n} for n in notes]
        return obs

    def add_simple(self, m: ExportMeasurement) -> None:
        loinc = m.loinc or KIND_INFO[MeasurementKind(m.kind)].loinc
        if loinc is None:
            return
        spec = C.KIND_CODES[m.kind]
        if m.kind == "glucose" and loinc == "2339-0":
            spec = C.GLUCOSE_UNKNOWN_SAMPLE
        identifier = observation_identifier(m, self.patient.curp, self.gateway, loinc)
        ref = _urn("obs", identifier)
        code = _code(loinc, spec.display, spec.mdc)
        obs = self._base_observation(identifier, [m], code, spec.category)
        obs.update(_value(m))
        _mark_urgent(obs, [m], self.glucose_high)
        if m.kind == "glucose" and m.context.get("meal"):
            obs["component"] = [_meal_component(str(m.context["meal"]))]
        if m.kind == "bmi" and m.device_id is None:
            sources = [
                self.refs_by_kind[k]
                for k in ("body_weight", "body_height")
                if k in self.refs_by_kind
            ]
            if sources:
                obs["derivedFrom"] = [{"reference": s} for s in sources]
        self._link_average(obs, loinc, ref, m.flags)
        if self._add(ref, obs, f"identifier={C.OBS_ID_SYSTEM}|{identifier}"):
            self.observation_refs.append(ref)
        self.refs_by_kind.setdefault(m.kind, ref)

    def add_bp_panel(self, rows: Sequence[ExportMeasurement]) -> None:
        by_kind = {r.kind: r for r in rows}
        ordered = [by_kind[k] for k in C.BP_COMPONENT_KINDS if k in by_kind]
        identifier = panel_identifier(ordered, self.patient.curp, self.gateway)
        ref = _urn("obs", identifier)
        code = _code(C.BP_PANEL_LOINC, C.BP_PANEL_DISPLAY, C.BP_PANEL_MDC)
        obs = self._base_observation(identifier, ordered, code, "vital-signs")
        components = []
        for r in ordered:
            spec = C.KIND_CODES[r.kind]
            loinc = r.loinc or KIND_INFO[MeasurementKind(r.kind)].loinc
            assert loinc is not None
            component: Resource = {"code": _code(loinc, spec.display, spec.mdc)}
            component.update(_value(r))
            components.append(component)
        obs["component"] = components
        _mark_urgent(obs, ordered, self.glucose_high)
        self._link_average(obs, C.BP_PANEL_LOINC, ref, [f for r in ordered for f in r.flags])
        if self._add(ref, obs, f"identifier={C.OBS_ID_SYSTEM}|{identifier}"):
            self.observation_refs.append(ref)

    def _link_average(
        self, obs: Resource, loinc: str, identifier: str, flags: Iterable[str]
    ) -> None:
        """An average points at the single readings it was computed from (same code)."""
        if "average" in flags:
            sources = [r for r in self.singles.get(loinc, []) if r != identifier]
            if sources:
                obs["derivedFrom"] = [{"reference": r} for r in sources]
        else:
            self.singles.setdefault(loinc, []).append(identifier)

    # ------------------------------------------------------------------ who measured

    def add_practitioners(self) -> None:
        """The nurses the readings and the completion name (NOM-004: who made the record)."""
        for p in self.export.practitioners:
            if p.licence:
                system, value = C.CEDULA_SYSTEM, _clean(p.licence)
                identifier = {
                    "use": "official",
                    "type": {
                        "coding": [_coding(C.V2_0203, "LN", "License number")],
                        "text": "Cédula profesional",
                    },
                    "system": system,
                    "value": value,
                }
            else:
                system = C.CART_USER_ID_SYSTEM
                value = f"{gateway_identifier(self.gateway)}-u{p.user_id}"
                identifier = {"use": "secondary", "system": system, "value": value}
            ref = _urn("practitioner", system, value)
            resource: Resource = {
                "resourceType": "Practitioner",
                "identifier": [identifier],
                "active": True,
                "name": [{"text": p.display_name}],
            }
            self._add(ref, resource, f"identifier={system}|{value}")
            self.practitioner_refs[p.user_id] = ref

    def performer_of(self, rows: Sequence[ExportMeasurement]) -> list[Resource]:
        """The nurse who took or typed these readings, when the cart knows her."""
        users = [r.recorded_by for r in rows if r.recorded_by is not None]
        ref = self.practitioner_refs.get(users[0]) if users else None
        return [{"reference": ref}] if ref else []

    # ------------------------------------------------------------------ known diagnoses

    def add_conditions(self) -> None:
        """Each diagnosis the person already had, as a problem-list Condition.

        Scoped by the patient only (not the cart): a person's diabetes is one fact, and
        another cart that screens her later finds the same Condition, not a second one.
        """
        e = self.export
        for diagnosis in e.known_diagnoses:
            codes = C.DIAGNOSIS_CODES.get(diagnosis)
            if codes is None:
                continue
            (snomed, snomed_display), (icd, icd_display), text = codes
            identifier = condition_identifier(self.patient.curp, diagnosis)
            ref = _urn("condition", identifier)
            resource: Resource = {
                "resourceType": "Condition",
                "identifier": _ident(C.CONDITION_ID_SYSTEM, identifier),
                "clinicalStatus": {"coding": [_coding(C.CONDITION_CLINICAL, "active")]},
                "verificationStatus": {"coding": [_coding(C.CONDITION_VERIFICATION, "confirmed")]},
                "category": [
                    {
                        "coding": [
                            _coding(C.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
                        ]
                    }
                ],
                "code": {
                    "coding": [
                        _coding(C.SNOMED, snomed, snomed_display),
                        _coding(C.ICD10, icd, icd_display),
                    ],
                    "text": text,
                },
                "subject": {"reference": self.patient_ref},
                "recordedDate": _dt(e.completed_at, self.zone),
                "note": [
                    {"text": "Reported at a MIDO screening as a diagnosis the person already had."}
                ],
            }
            if self._add(ref, resource, f"identifier={C.CONDITION_ID_SYSTEM}|{identifier}"):
                self.condition_refs.append(ref)

    # ------------------------------------------------------------------ classification

    def add_risk_assessment(self) -> None:
        e = self.export
        identifier = risk_identifier(e, self.gateway)
        ref = _urn("risk", identifier)
        classification = dict(e.classification or {})
        ruleset = classification.get("ruleset")
        ruleset_id = str(ruleset.get("id")) if isinstance(ruleset, Mapping) else e.ruleset
        version = ruleset.get("version") if isinstance(ruleset, Mapping) else None
        resource: Resource = {
            "resourceType": "RiskAssessment",
            "meta": {"tag": [_coding(C.RISK_ID_SYSTEM, identifier)]},
            "identifier": _ident(C.RISK_ID_SYSTEM, identifier),
            "status": "final",
            "subject": {"reference": self.patient_ref},
            "occurrenceDateTime": _dt(e.completed_at, self.zone),
            "performer": {"reference": self.gateway_ref},
            "method": {
                "coding": [_coding(C.CS_CLASSIFIER, ruleset_id, f"MIDO classifier ({ruleset_id})")],
                "text": f"mido-cart classifier, rule set {ruleset_id}"
                + (f" {version}" if version else ""),
            },
        }
        basis = [*self.observation_refs, *self.condition_refs]
        if basis:  # what it was computed from: the readings and the known diagnoses
            resource["basis"] = [{"reference": r} for r in basis]
        predictions = _predictions(classification.get("overall"))
        if predictions:
            resource["prediction"] = predictions
        notes = _classification_notes(classification)
        if notes:
            resource["note"] = [{"text": n} for n in notes]
        self._add(ref, resource, f"_tag={C.RISK_ID_SYSTEM}|{identifier}")

    def build(self) -> Resource:
        self.add_patient()
        self.add_gateway()
        self.add_practitioners()
        rows = sorted(self.export.measurements, key=lambda r: r.id)
        panels: dict[str, list[ExportMeasurement]] = {}
        order: list[tuple[str, ExportMeasurement | str]] = []
        manual_panel: str | None = None
        for r in rows:
            if r.kind in C.NOT_SENT_KINDS or r.kind not in C.KIND_CODES:
                continue
            if r.kind in C.BP_COMPONENT_KINDS:
                key = r.reading_id
                if r.manual_entry:
                    # typed in one value at a time: systolic and diastolic entered one
                    # after the other are one panel (the R4 bp profile wants both in one)
                    if manual_panel is None or r.kind in {x.kind for x in panels[manual_panel]}:
                        manual_panel = r.reading_id
                    key = manual_panel
                if key not in panels:
                    panels[key] = []
                    order.append(("panel", key))
                panels[key].append(r)
            else:
                order.append(("simple", r))
        # weight and height first so that a computed BMI can point at them
        order.sort(key=lambda item: 0 if _kind_of(item) in ("body_weight", "body_height") else 1)
        derived = _derived_bmi(rows)
        if derived is not None:  # right after the weights and heights it comes from
            at = sum(1 for item in order if _kind_of(item) in ("body_weight", "body_height"))
            order.insert(at, ("simple", derived))
        for what, item in order:
            if what == "panel":
                assert isinstance(item, str)
                if {"systolic_pressure", "diastolic_pressure"} <= {r.kind for r in panels[item]}:
                    self.add_bp_panel(panels[item])
                else:  # half a pressure is not a bp panel: each value stands alone
                    for r in panels[item]:
                        self.add_simple(r)
            else:
                assert isinstance(item, ExportMeasurement)
                self.add_simple(item)
        self.add_conditions()
        self.add_risk_assessment()
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": self.entries,
        }


def _with_full_urls(bundle: Resource, new_url: Callable[[], str]) -> Resource:
    """Swap the builder's internal keys for fresh fullUrls (and every reference to them)."""
    urls = {e["fullUrl"]: new_url() for e in bundle["entry"]}

    def swap(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: swap(v) for k, v in node.items()}
            ref = out.get("reference")
            if isinstance(ref, str) and ref in urls:
                out["reference"] = urls[ref]
            return out
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    entries = []
    for entry in bundle["entry"]:
        entries.append(
            {**entry, "fullUrl": urls[entry["fullUrl"]], "resource": swap(entry["resource"])}
        )
    return {**bundle, "entry": entries}


def _derived_bmi(rows: Sequence[ExportMeasurement]) -> ExportMeasurement | None:
    """A BMI computed from the (first) weight and height when no row carries one."""
    if any(r.kind == "bmi" for r in rows):
        return None
    weight = [r for r in rows if r.kind == "body_weight" and r.value and r.unit == "kg"]
    height = [r for r in rows if r.kind == "body_height" and r.value and r.unit == "cm"]
    if not weight or not height:
        return None
    w, h = weight[0], height[0]
    assert w.value is not None
    assert h.value is not None
    return ExportMeasurement(
        id=max(w.id, h.id),
        reading_id=f"bmi:{w.reading_id}:{h.reading_id}",
        kind="bmi",
        value=round(w.value / (h.value / 100) ** 2, 1),
        # one decimal, as scales and the classifier (NOM-008, rounded half up) report BMI;
        # more would claim a precision the weight and height do not carry
        decimals=1,
        unit="kg/m2",
        loinc=None,
        special=None,
        flags=("calculated",),
        received_at=max(w.received_at, h.received_at),
        measured_at=max(m for m in (w.measured_at, h.measured_at, w.received_at) if m),
        manual_entry=True,  # no device measured it: no device, no PHD identity
    )


def urgent_glucose_high(classification: Mapping[str, Any] | None) -> Decimal:
    """The high-glucose urgency threshold the stored classification was computed with.

    The deployment may set its own (``CART_URGENT_GLUCOSE_MG_DL``); the classifier keeps
    it in its output (``ruleset.options``), so the FHIR coding agrees with what the nurse
    saw.
    """
    ruleset = (classification or {}).get("ruleset")
    options = ruleset.get("options") if isinstance(ruleset, Mapping) else None
    value = options.get("urgent_glucose_high") if isinstance(options, Mapping) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return dec(value)
    return URGENT_GLUCOSE_HIGH.value


def _urgent(
    rows: Sequence[ExportMeasurement], glucose_high: Decimal = URGENT_GLUCOSE_HIGH.value
) -> tuple[str, str] | None:
    """Critical high/low (v3 ObservationInterpretation) where the classifier says urgent."""
    values = {r.kind: r.value for r in rows if r.value is not None}
    sys_, dia = values.get("systolic_pressure"), values.get("diastolic_pressure")
    if (sys_ is not None and sys_ >= C.URGENT_SYSTOLIC_MMHG) or (
        dia is not None and dia >= C.URGENT_DIASTOLIC_MMHG
    ):
        return ("HH", "Critical high")
    glucose = [r.value for r in rows if r.kind == "glucose" and r.unit == "mg/dL" and r.value]
    if glucose:
        value = Decimal(str(glucose[0]))
        if URGENT_GLUCOSE_LOW.holds(value):
            return ("LL", "Critical low")
        if replace(URGENT_GLUCOSE_HIGH, value=glucose_high).holds(value):  # deployment's value
            return ("HH", "Critical high")
    return None


def _mark_urgent(
    obs: Resource,
    rows: Sequence[ExportMeasurement],
    glucose_high: Decimal = URGENT_GLUCOSE_HIGH.value,
) -> None:
    urgent = _urgent(rows, glucose_high)
    if urgent is not None:
        coded = {"coding": [_coding(C.OBS_INTERPRETATION, *urgent)], "text": "Urgente"}
        obs["interpretation"] = [coded, *obs.get("interpretation", [])]


def _meal_component(meal: str) -> Resource:
    """The glucose meter's meal context, coded (and as a v2 fasting status when it is one)."""
    coding = [_coding(C.CS_MEAL_CONTEXT, meal)]
    status = C.MEAL_FASTING_STATUS.get(meal)
    if status is not None:
        coding.insert(0, _coding(C.FASTING_STATUS, *status))
    return {
        "code": {"coding": [_coding(C.CS_MEAL_CONTEXT, "meal-context")], "text": "Meal context"},
        "valueCodeableConcept": {"coding": coding, "text": meal},
    }


def _kind_of(item: tuple[str, ExportMeasurement | str]) -> str:
    return item[1].kind if isinstance(item[1], ExportMeasurement) else "panel"


def build_bundle(
    export: ScreeningExport,
    gateway: GatewayIdentity,
    *,
    zone: tzinfo | None = None,
    new_url: Callable[[], str] = fresh_full_url,
) -> Resource:
    """The transaction Bundle for one completed screening (a plain JSON-able dict).

    ``zone``: the cart's zone (default :func:`cart.wallclock.zone`); ``new_url`` mints the
    fullUrls, fresh on every call.
    """
    built = _Builder(export, gateway, zone or wallclock.zone()).build()
    return _with_full_urls(built, new_url)


def _clean(value: object) -> str:
    """One part of an identifier: no spaces, no separators of its own."""
    text = "" if value is None else str(value)
    return "".join(c if c.isalnum() or c in "._:" else "_" for c in text.strip()) or "_"


def gateway_identifier(gateway: GatewayIdentity) -> str:
    return f"cart.{_clean(gateway.system_id)}"


def device_identifier(m: ExportMeasurement, gateway: GatewayIdentity) -> str:
    """Manufacturer.model.serial when the device tells its serial, else cart + device id."""
    info = dict(m.device or {})
    if info.get("serial_number"):
        return ".".join(_clean(info.get(k)) for k in ("manufacturer", "model", "serial_number"))
    return f"{gateway_identifier(gateway)}.{_clean(m.device_id or m.protocol)}"


def _phd_identifier(m: ExportMeasurement, curp: str, gateway: GatewayIdentity, code: str) -> str:
    device = "manual" if m.manual_entry else device_identifier(m, gateway)
    if m.device_time is not None and not m.manual_entry:
        stamp = _phd_time(m.device_time)
    else:  # no device clock: the capture's own UUID, stored with the reading
        stamp = f"r{m.reading_id}"
    parts = [device, gateway_identifier(gateway), patient_key(curp), stamp, code]
    if m.sequence is not None and not m.manual_entry:
        parts.append(f"n{m.sequence}")
    return "-".join(parts)


def observation_identifier(
    m: ExportMeasurement, curp: str, gateway: GatewayIdentity, loinc: str
) -> str:
    """PHD IG style: device, cart, patient, device timestamp, type code (+ record number)."""
    return _phd_identifier(m, curp, gateway, loinc)


def panel_identifier(rows: Sequence[ExportMeasurement], curp: str, gateway: GatewayIdentity) -> str:
    return _phd_identifier(rows[0], curp, gateway, C.BP_PANEL_LOINC)


def condition_identifier(curp: str, diagnosis: str) -> str:
    """The patient's known diagnosis: the same on every cart and every resend."""
    return f"{patient_key(curp)}-{_clean(diagnosis)}"


def risk_identifier(export: ScreeningExport, gateway: GatewayIdentity) -> str:
    assert export.patient is not None
    completed = export.completed_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return "-".join(
        [
            gateway_identifier(gateway),
            patient_key(export.patient.curp),
            f"s{export.screening_id}",
            completed,
        ]
    )


def _code(loinc: str, display: str, mdc: tuple[str, str] | None) -> Resource:
    coding = [_coding(C.LOINC, loinc, display)]
    if mdc is not None:
        coding.append(_coding(C.MDC, mdc[0], mdc[1]))
    return {"coding": coding, "text": display}


def _value(m: ExportMeasurement) -> Resource:
    if m.value is not None:
        return {
            "valueQuantity": {
                "value": quantity_value(m.value, m.decimals),
                "unit": C.UCUM_DISPLAY.get(m.unit, m.unit),
                "system": C.UCUM,
                "code": m.unit,
            }
        }
    code, text = C.DATA_ABSENT.get(m.special or "", ("error", "Error"))
    return {"dataAbsentReason": {"coding": [_coding(C.DAR_SYSTEM, code)], "text": text}}


def _interpretation(flags: Iterable[str]) -> list[Resource]:
    out = []
    for flag in flags:
        coding = [_coding(C.CS_DEVICE_FLAG, flag)]
        # PHD IG: each device-status interpretation carries a measurement-status code;
        # a flag without a specific one says the device doubts its value
        status = C.FLAG_STATUS.get(flag, "questionable")
        coding.insert(0, _coding(C.POCD_STATUS, status))
        out.append({"coding": coding, "text": flag.replace("_", " ")})
    return out


def _note(m: ExportMeasurement) -> str | None:
    parts = []
    if m.original_value is not None and m.original_unit:
        parts.append(f"{m.kind}: device reported {m.original_value:g} {m.original_unit}")
    if m.context:
        parts.append(
            f"{m.kind} context: " + ", ".join(f"{k}={v}" for k, v in sorted(m.context.items()))
        )
    return "; ".join(parts) or None


def _gender(sex: str) -> str:
    value = sex.strip().lower()
    if value in ("female", "f", "mujer"):
        return "female"
    if value in ("male", "h", "hombre"):
        return "male"
    if value in ("x", "other", "no_binario", "non_binary"):
        return "other"
    return "unknown"


def _predictions(overall: object) -> list[Resource]:
    if not isinstance(overall, Mapping):
        return []
    out: list[Resource] = []
    for condition, display in C.CONDITION_DISPLAY.items():
        label = overall.get(condition)
        if not label:
            continue
        coding = [_coding(C.CS_MIDO_LABEL, str(label))]
        risk = C.RISK_OF_LABEL.get(str(label))
        if risk is not None:
            coding.insert(0, _coding(C.RISK_PROBABILITY, risk[0], risk[1]))
        out.append(
            {
                "outcome": {"coding": [_coding(C.CS_CONDITION, condition, display)]},
                "qualitativeRisk": {"coding": coding, "text": str(label)},
            }
        )
    return out


def _classification_notes(classification: Mapping[str, Any]) -> list[str]:
    notes = []
    overall = classification.get("overall")
    if isinstance(overall, Mapping) and overall.get("urgent_attention"):
        notes.append("Atención urgente / urgent attention")
    summary = [
        f"{key}={classification[key]}"
        for key in ("bmi", "weight_status", "waist_risk", "bp_category", "glucose_category")
        if classification.get(key) is not None
    ]
    if summary:
        notes.append("; ".join(summary))
    return notes
