"""`cart audit verify|export`: check the bitácora's hash chain, or write it out as JSON lines.

``verify`` exits 1 when a row was edited, deleted or renumbered (or, with
``--expect-head``, when the newest rows are gone) and prints the chain's head: keep it
somewhere off the cart to detect truncation later. ``export`` writes one JSON object
per line (to standard output or ``--output``) and records the export in the trail.
"""

from __future__ import annotations

import argparse
import sys

NAME = "audit"
HELP = "verify the audit trail's hash chain or export it (JSON lines)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (CART_DATABASE_URL)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = sub.add_parser("verify", help="walk the hash chain")
    verify.add_argument("--expect-head", help="the head printed by an earlier verify")
    export = sub.add_parser("export", help="every event as JSON lines")
    export.add_argument("--output", help="file to write (created 0600); default stdout")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from cart.commands._database import open_database
    from cart.private import write_private
    from cart.store.audit import AuditLog, public

    engine = open_database("audit", args.database_url)
    if engine is None:
        return 2
    try:
        audit = AuditLog(engine)
        if args.action == "verify":
            result = audit.verify(args.expect_head)
            print(json.dumps(result.to_json()))
            return 0 if result.ok else 1
        lines = [json.dumps(public(row), ensure_ascii=False) for row in audit.iter_all()]
        text = "".join(line + "\n" for line in lines)
        if args.output:
            write_private(Path(args.output), text)
        else:
            sys.stdout.write(text)
        audit.append("audit_export", username=None, detail={"rows": len(lines), "by": "cli"})
        return 0
    finally:
        engine.dispose()
