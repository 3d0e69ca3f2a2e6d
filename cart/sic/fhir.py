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
    RiskAssessment   the MIDO classification, basis -> the Observations

Identifiers are ``urn:uuid:`` (UUIDv5) values under system ``urn:ietf:rfc:3986``:

* Observation, device with a timestamp: hash of device id, CURP, the *device-reported*
  timestamp, LOINC code and value (PHD IG BaseObservationProfile: "device identifier,
  patient identifier, PHD timestamp, type code, value"), so a meter that replays its
  memory into a later screening maps to the same Observation;
* Observation without a device timestamp or typed in: hash of the reading's UUID minted
  (and stored) at capture;
* Device: manufacturer + model + serial when the device reports a serial, else the
  gateway id + the configured device id; Patient: the CURP;
* RiskAssessment: gateway id + CURP + screening id + completion time.

Hashing keeps the CURP out of search URLs. The Bundle is a pure function of its input:
rendering the same screening twice gives byte-identical JSON (fullUrls are the same
``urn:uuid`` values). No FHIR library is needed at run time; the tests validate every
Bundle with ``fhir.resources`` (R4B) and check it with fhirpathpy.

``RiskAssessment`` is matched on ``_tag`` (the same ``urn:uuid`` as its identifier, in
``meta.tag``) rather than ``identifier``: R4 defines ``RiskAssessment?identifier`` but
servers do not all index it (sekmet-fhir 0.1.1 does not), while ``_tag`` is common to
every resource type.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from cart.measurement import KIND_INFO, MeasurementKind
from cart.sic import codes as C
from cart.sic.model import (
    ExportMeasurement,
    ExportPatient,
    GatewayIdentity,
    MappingError,
    ScreeningExport,
)

__all__ = ["ID_NAMESPACE", "build_bundle", "observation_identifier"]

ID_NAMESPACE: Final = uuid.UUID("0b4bd2a4-1b3e-5c36-8f57-7f8d6f5b1c2e")
"""Namespace of every deterministic identifier. Never change it: resends would duplicate."""

Resource = dict[str, Any]


def _urn(*parts: object) -> str:
    key = "\x1f".join("" if p is None else str(p) for p in parts)
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, key)}"


def _ident(value: str) -> list[dict[str, str]]:
    return [{"system": C.URI_SYSTEM, "value": value}]


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _dt(value: datetime) -> str:
    """FHIR dateTime with an offset; naive datetimes are the cart's local time."""
    aware = value if value.tzinfo is not None else value.astimezone()
    return aware.isoformat(timespec="seconds")


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class _Builder:
    def __init__(self, export: ScreeningExport, gateway: GatewayIdentity) -> None:
        if export.patient is None:
            raise MappingError(f"screening {export.screening_id} has no patient")
        self.export = export
        self.patient: ExportPatient = export.patient
        self.gateway = gateway
        self.entries: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.patient_ref = _urn("patient", self.patient.curp)
        self.gateway_ref = _urn("gateway", gateway.system_id)
        self.device_refs: dict[str, str] = {}
        self.observation_refs: list[str] = []
        self.refs_by_kind: dict[str, str] = {}
        self.singles: dict[str, list[str]] = {}

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
            "identifier": _ident(self.gateway_ref),
            "deviceName": [{"name": g.name, "type": "user-friendly-name"}],
            "manufacturer": "mido-cart",
            "serialNumber": g.system_id,
            "type": {
                "coding": [_coding(C.MDC, C.MDC_PHG[0], C.MDC_PHG[1])],
                "text": "Personal health gateway (MIDO screening cart)",
            },
            "version": [{"type": {"text": "software"}, "value": g.software_version}],
        }
        self._add(self.gateway_ref, resource, f"identifier={C.URI_SYSTEM}|{self.gateway_ref}")

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
        resource: Resource = {
            "resourceType": "Device",
            "identifier": _ident(ref),
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
        self._add(ref, resource, f"identifier={C.URI_SYSTEM}|{ref}")
        return ref

    # ------------------------------------------------------------------ observations

    def _base_observation(
        self, identifier: str, rows: Sequence[ExportMeasurement], code: Resource, category: str
    ) -> Resource:
        first = rows[0]
        obs: Resource = {
            "resourceType": "Observation",
            "identifier": _ident(identifier),
            "status": "final",
            "category": [{"coding": [_coding(C.OBS_CATEGORY, category)]}],
            "code": code,
            "subject": {"reference": self.patient_ref},
            "effectiveDateTime": _dt(first.measured_at or first.received_at),
            "extension": [
                {"url": C.GATEWAY_EXTENSION, "valueReference": {"reference": self.gateway_ref}}
            ],
        }
        flags = sorted({f for r in rows for f in r.flags})
        device = self.device_for(first)
        if device is not None:
            obs["device"] = {"reference": device}
        if first.manual_entry or "manual_entry" in flags:
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
        code = _code(loinc, spec.display, spec.mdc)
        obs = self._base_observation(identifier, [m], code, spec.category)
        obs.update(_value(m))
        if m.kind == "bmi" and m.device_id is None:
            sources = [
                self.refs_by_kind[k]
                for k in ("body_weight", "body_height")
                if k in self.refs_by_kind
            ]
            if sources:
                obs["derivedFrom"] = [{"reference": s} for s in sources]
        self._link_average(obs, loinc, identifier, m.flags)
        if self._add(identifier, obs, f"identifier={C.URI_SYSTEM}|{identifier}"):
            self.observation_refs.append(identifier)
        self.refs_by_kind.setdefault(m.kind, identifier)

    def add_bp_panel(self, rows: Sequence[ExportMeasurement]) -> None:
        by_kind = {r.kind: r for r in rows}
        ordered = [by_kind[k] for k in C.BP_COMPONENT_KINDS if k in by_kind]
        identifier = panel_identifier(ordered, self.patient.curp, self.gateway)
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
        self._link_average(obs, C.BP_PANEL_LOINC, identifier, [f for r in ordered for f in r.flags])
        if self._add(identifier, obs, f"identifier={C.URI_SYSTEM}|{identifier}"):
            self.observation_refs.append(identifier)

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

    # ------------------------------------------------------------------ classification

    def add_risk_assessment(self) -> None:
        e = self.export
        ref = _urn(
            "risk", self.gateway.system_id, self.patient.curp, e.screening_id, _dt(e.completed_at)
        )
        classification = dict(e.classification or {})
        ruleset = classification.get("ruleset")
        ruleset_id = str(ruleset.get("id")) if isinstance(ruleset, Mapping) else e.ruleset
        version = ruleset.get("version") if isinstance(ruleset, Mapping) else None
        resource: Resource = {
            "resourceType": "RiskAssessment",
            "meta": {"tag": [_coding(C.URI_SYSTEM, ref)]},
            "identifier": _ident(ref),
            "status": "final",
            "subject": {"reference": self.patient_ref},
            "occurrenceDateTime": _dt(e.completed_at),
            "performer": {"reference": self.gateway_ref},
            "method": {
                "coding": [_coding(C.CS_CLASSIFIER, ruleset_id, f"MIDO classifier ({ruleset_id})")],
                "text": f"mido-cart classifier, rule set {ruleset_id}"
                + (f" {version}" if version else ""),
            },
        }
        if self.observation_refs:
            resource["basis"] = [{"reference": r} for r in self.observation_refs]
        predictions = _predictions(classification.get("overall"))
        if predictions:
            resource["prediction"] = predictions
        notes = _classification_notes(classification)
        if notes:
            resource["note"] = [{"text": n} for n in notes]
        self._add(ref, resource, f"_tag={C.URI_SYSTEM}|{ref}")

    def build(self) -> Resource:
        self.add_patient()
        self.add_gateway()
        rows = sorted(self.export.measurements, key=lambda r: r.id)
        panels: dict[str, list[ExportMeasurement]] = {}
        order: list[tuple[str, ExportMeasurement | str]] = []
        for r in rows:
            if r.kind in C.NOT_SENT_KINDS or r.kind not in C.KIND_CODES:
                continue
            if r.kind in C.BP_COMPONENT_KINDS:
                if r.reading_id not in panels:
                    panels[r.reading_id] = []
                    order.append(("panel", r.reading_id))
                panels[r.reading_id].append(r)
            else:
                order.append(("simple", r))
        # weight and height first so that a computed BMI can point at them
        order.sort(key=lambda item: 0 if _kind_of(item) in ("body_weight", "body_height") else 1)
        for what, item in order:
            if what == "panel":
                assert isinstance(item, str)
                self.add_bp_panel(panels[item])
            else:
                assert isinstance(item, ExportMeasurement)
                self.add_simple(item)
        self.add_risk_assessment()
        return {
            "resourceType": "Bundle",
            "identifier": {
                "system": C.URI_SYSTEM,
                "value": _urn("bundle", self.gateway.system_id, self.export.screening_id),
            },
            "type": "transaction",
            "entry": self.entries,
        }


def _kind_of(item: tuple[str, ExportMeasurement | str]) -> str:
    return item[1].kind if isinstance(item[1], ExportMeasurement) else "panel"


def build_bundle(export: ScreeningExport, gateway: GatewayIdentity) -> Resource:
    """The transaction Bundle for one completed screening (a plain JSON-able dict)."""
    return _Builder(export, gateway).build()


def _device_key(m: ExportMeasurement, gateway: GatewayIdentity) -> str:
    info = dict(m.device or {})
    if info.get("serial_number"):
        return f"{info.get('manufacturer')}/{info.get('model')}/{info['serial_number']}"
    return f"{gateway.system_id}/{m.device_id or m.protocol}"


def _value_key(m: ExportMeasurement) -> str:
    return repr(m.value) if m.value is not None else f"special:{m.special}"


def observation_identifier(
    m: ExportMeasurement, curp: str, gateway: GatewayIdentity, loinc: str
) -> str:
    """PHD-style identity when the device stamped the reading, else the capture UUID."""
    if m.measured_at is not None and not m.manual_entry:
        return _urn(
            "obs",
            _device_key(m, gateway),
            curp,
            m.measured_at.isoformat(),
            loinc,
            _value_key(m),
            m.sequence,
        )
    return _urn("obs", m.reading_id, loinc)


def panel_identifier(rows: Sequence[ExportMeasurement], curp: str, gateway: GatewayIdentity) -> str:
    first = rows[0]
    loinc = C.BP_PANEL_LOINC
    if first.measured_at is not None and not first.manual_entry:
        return _urn(
            "obs",
            _device_key(first, gateway),
            curp,
            first.measured_at.isoformat(),
            loinc,
            *(f"{r.kind}={_value_key(r)}" for r in rows),
        )
    return _urn("obs", first.reading_id, loinc)


def _code(loinc: str, display: str, mdc: tuple[str, str] | None) -> Resource:
    coding = [_coding(C.LOINC, loinc, display)]
    if mdc is not None:
        coding.append(_coding(C.MDC, mdc[0], mdc[1]))
    return {"coding": coding, "text": display}


def _value(m: ExportMeasurement) -> Resource:
    if m.value is not None:
        return {
            "valueQuantity": {
                "value": _num(m.value),
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
        status = C.FLAG_STATUS.get(flag)
        if status is not None:
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
