"""Profile validation through the Medplum test server's ``$validate-profile`` route."""

from __future__ import annotations

from typing import Any

import httpx

from cart.sic.fhirjson import dumps

VITAL_SIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
BY_LOINC = {
    "85354-9": "http://hl7.org/fhir/StructureDefinition/bp",
    "29463-7": "http://hl7.org/fhir/StructureDefinition/bodyweight",
    "8302-2": "http://hl7.org/fhir/StructureDefinition/bodyheight",
    "8867-4": "http://hl7.org/fhir/StructureDefinition/heartrate",
    "39156-5": "http://hl7.org/fhir/StructureDefinition/bmi",
}
"""The R4 vital-signs profiles our codes fall under (a validator applies them by code)."""


def profiles_of(resource: dict[str, Any]) -> list[str]:
    if resource["resourceType"] != "Observation":
        return []
    codes = {c.get("code") for c in resource["code"].get("coding", [])}
    found = [url for code, url in BY_LOINC.items() if code in codes]
    categories = {c.get("code") for cat in resource.get("category", []) for c in cat["coding"]}
    if found or "vital-signs" in categories:
        found.append(VITAL_SIGNS)
    return found


def problems(base_url: str, bundle: dict[str, Any]) -> list[str]:
    """Errors of the Bundle itself and of each entry against R4 core and its profiles.

    Warnings about ``urn:uuid`` references are expected inside a transaction (the
    validator cannot resolve them) and are not problems; any other issue is.
    """
    out: list[str] = []
    targets = [("Bundle", bundle, [])] + [
        (f"entry[{i}] {e['resource']['resourceType']}", e["resource"], profiles_of(e["resource"]))
        for i, e in enumerate(bundle["entry"])
    ]
    for where, resource, profiles in targets:
        response = httpx.post(
            f"{base_url}/$validate-profile",
            params=[("profile", p) for p in profiles],
            # the bytes the cart sends (decimals written with the device's digits)
            content=dumps(resource),
            headers={"Content-Type": "application/fhir+json"},
            timeout=30,
        )
        response.raise_for_status()
        for issue in response.json().get("issue", []):
            text = issue.get("diagnostics") or issue.get("details", {}).get("text", "")
            if issue.get("severity") == "warning" and "Invalid reference" in text:
                continue
            out.append(f"{where}: {issue.get('severity')} {text} at {issue.get('expression')}")
    return out
