"""`cart doctor [--var DIR] [--json]`: is the cart's data private and encrypted at rest?

Exit status 1 when a file or folder under ``var/`` is readable by others or the disk
holding it is known not to be LUKS-encrypted; 0 otherwise (``unknown`` is reported,
not failed: the check is best effort).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "doctor"
HELP = "check that var/ is private (0700/0600) and on an encrypted (LUKS) disk"

_STATE_ES = {
    "encrypted": "cifrado (LUKS)",
    "not_encrypted": "SIN cifrar",
    "unknown": "desconocido",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--var", type=Path, default=Path("var"), help="data folder (var)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from cart.doctor import report

    result = report(args.var)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0 if result["ok"] else 1
    if not result["exists"]:
        print(f"var: {args.var} does not exist yet (the service creates it 0700)")
    problems = result["modes"]["problems"]
    if problems:
        print(f"modes: {len(problems)} path(s) readable by other accounts:")
        for p in problems:
            print(f"  chmod {p['expected']} {p['path']}   (now {p['mode']})")
    else:
        print("modes: ok (folders 0700, files 0600)")
    enc = result["encryption"]
    print(f"disk: {enc['state']} / {_STATE_ES[enc['state']]}: {enc['detail']}")
    if enc["state"] == "not_encrypted":
        print("  a stolen cart would leak every patient: put var/ on a LUKS volume (README)")
    return 0 if result["ok"] else 1
