"""`cart users add|list|disable|enable|token`: the people who sign in at the cart.

``add`` asks for the PIN twice on the terminal (or reads one line from standard input
with ``--pin-stdin``, for scripts); the PIN is stored only as an argon2id hash.
``token`` prints a new bearer token for a program acting as that user (shown once).
"""

from __future__ import annotations

import argparse
import sys

NAME = "users"
HELP = "add, list, disable or enable the cart's users (nurse, technician, administrator)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (CART_DATABASE_URL)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a user")
    add.add_argument("username", help="2-32 lower-case letters, digits, . _ -")
    add.add_argument("--role", required=True, choices=["nurse", "technician", "administrator"])
    add.add_argument("--name", required=True, help="the person's name as shown and audited")
    add.add_argument("--licence", help="cédula profesional (nurses)")
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")
    listing = sub.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true")
    for action in ("disable", "enable"):
        p = sub.add_parser(action, help=f"{action} a user (disabling ends their sign-in)")
        p.add_argument("username")
    token = sub.add_parser("token", help="print a new bearer token acting as the user")
    token.add_argument("username")


def _read_pin(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    import getpass

    first = getpass.getpass("PIN (6-12 digits): ")
    if getpass.getpass("PIN again: ") != first:
        raise ValueError("the two PINs differ / los PIN no coinciden")
    return first


def run(args: argparse.Namespace) -> int:
    import json

    from cart.commands._database import open_database
    from cart.errors import ValidationError
    from cart.store.accounts import Accounts
    from cart.store.audit import AuditLog
    from cart.users import Role

    engine = open_database("users", args.database_url)
    if engine is None:
        return 2
    try:
        accounts = Accounts(engine)
        audit = AuditLog(engine)  # changes to who may sign in are audited too
        if args.action == "add":
            pin = _read_pin(args.pin_stdin)
            user = accounts.add_user(
                args.username, args.name, Role(args.role), pin, licence=args.licence
            )
            audit.append(
                "user_add", object_type="user", object_id=user.id, detail={"role": user.role}
            )
            print(f"added {user.username} ({user.role})")
        elif args.action == "list":
            rows = [
                {
                    "id": u.id,
                    "username": u.username,
                    "display_name": u.display_name,
                    "role": u.role,
                    "licence": u.licence,
                    "active": u.active,
                }
                for u in accounts.users()
            ]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False))
            for row in [] if args.json else rows:
                state = "active" if row["active"] else "disabled"
                print(f"{row['username']:<20} {row['role']:<14} {state:<9} {row['display_name']}")
        elif args.action in ("disable", "enable"):
            if not accounts.set_active(args.username, args.action == "enable"):
                print(f"cart users: no user {args.username!r}", file=sys.stderr)
                return 1
            changed = accounts.by_name(args.username)
            audit.append(
                f"user_{args.action}",
                object_type="user",
                object_id=changed.id if changed is not None else None,
            )
            print(f"{args.action}d {args.username}")
        else:
            print(accounts.issue_token(args.username))
            owner = accounts.by_name(args.username)
            audit.append("token_issue", object_type="user", object_id=owner.id if owner else None)
        return 0
    except (ValidationError, ValueError) as exc:
        print(f"cart users: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
