"""`cart classify [--ruleset nom|aha_ada]`: classify one screening (DESIGN section 6).

Reads the input JSON object on stdin and prints the classification JSON on stdout.
Invalid input prints ``{"error": {"type": "ValidationError", "field": ..., "message": ...}}``
and exits 1. Example::

    echo '{"sex": "female", "weight_kg": 76.8, "height_cm": 160}' | cart classify
"""

from __future__ import annotations

import argparse
import json
import sys

NAME = "classify"
HELP = "classify one screening (input JSON on stdin) into MIDO risk categories"

#: Kept literal so that `cart --help` does not import the classifier; a test checks them.
RULESETS = ("nom", "aha_ada")
WAIST_PROFILES = ("idf_latam", "atp3")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ruleset",
        choices=RULESETS,
        default="nom",
        help="rule set: nom (Mexican norms, default) or aha_ada (WHO / ACC-AHA 2017 / ADA 2025)",
    )
    parser.add_argument(
        "--urgent-glucose-high",
        type=float,
        default=250,
        metavar="MG_DL",
        help="glucose at or above which attention is urgent (default 250; 300 is common)",
    )
    parser.add_argument(
        "--waist-profile",
        choices=WAIST_PROFILES,
        default="idf_latam",
        help="waist cut-offs: idf_latam (80/90 cm, default) or atp3 (88/102 cm)",
    )
    parser.add_argument("--indent", type=int, default=None, help="pretty-print the JSON")


def run(args: argparse.Namespace) -> int:
    from cart.classify import ClassifyOptions, classify
    from cart.errors import ValidationError

    text = sys.stdin.read()
    try:
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ValidationError("input", f"not valid JSON: {exc}") from None
        options = ClassifyOptions(
            urgent_glucose_high=_integral(args.urgent_glucose_high),
            waist_profile=args.waist_profile,
        )
        result = classify(data, args.ruleset, options=options)
    except ValidationError as exc:
        error = {"type": exc.type_name, "field": exc.field, "message": exc.message}
        print(json.dumps({"error": error}, ensure_ascii=False))
        return 1
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=args.indent))
    return 0


def _reject_constant(name: str) -> float:
    """JSON has no NaN or Infinity; Python's json would accept them."""
    raise ValueError(f"{name} is not a JSON number")


def _integral(value: float) -> float:
    """250.0 from argparse is reported as 250, like the default."""
    return int(value) if float(value).is_integer() else value
