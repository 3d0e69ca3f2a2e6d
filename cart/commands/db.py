"""`cart db upgrade|current|downgrade|check`: the database's schema migrations by hand.

The service upgrades to the newest migration at every start; these are for the
technician (a backup restored, a rollback before installing an older cart) and for CI.
The database is ``--database-url`` or the setting (``CART_DATABASE_URL``); its password
is never printed. From a source checkout, ``alembic`` with the repository's
``alembic.ini`` does the same.

- ``upgrade [REVISION]``: to REVISION (default ``head``, the newest).
- ``downgrade REVISION``: down to REVISION (``-1``: one step, ``base``: empty). Data in
  the columns and tables a migration removes is lost.
- ``current``: the applied revision and whether it is the newest; exit 0.
- ``check``: compare the schema with the models; exit 1 and list the differences if any.
"""

from __future__ import annotations

import argparse
import sys

NAME = "db"
HELP = "database migrations: upgrade, downgrade, current, check"


def configure(parser: argparse.ArgumentParser) -> None:
    url_help = "SQLAlchemy URL (CART_DATABASE_URL)"
    parser.add_argument("--database-url", help=url_help)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="migrate up to REVISION (default: head)")
    up.add_argument("revision", nargs="?", default="head", help="a revision id or head")
    down = sub.add_parser("downgrade", help="migrate down to REVISION (-1, an id, or base)")
    down.add_argument("revision", help="a revision id, -N steps, or base")
    current = sub.add_parser("current", help="print the applied revision")
    check = sub.add_parser("check", help="exit 1 if the schema differs from the models")
    for action in (up, down, current, check):
        # also after the action (`cart db current --database-url ...`); SUPPRESS: an
        # action without it keeps the one given before it
        action.add_argument("--database-url", default=argparse.SUPPRESS, help=url_help)


def run(args: argparse.Namespace) -> int:
    from alembic.util import CommandError
    from pydantic import ValidationError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cart.config import load_settings
    from cart.store.db import create_db_engine, downgrade, drift, migrate, revisions

    overrides: dict[str, object] = {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        print(f"cart db: invalid settings: {exc}", file=sys.stderr)
        return 2
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    engine = create_db_engine(settings.database_url)
    try:
        if args.action == "upgrade":
            migrate(engine, args.revision)
        elif args.action == "downgrade":
            downgrade(engine, args.revision)
        elif args.action == "check":
            diffs = drift(engine)
            if diffs:
                print(f"{shown}: the schema differs from the models:")
                for diff in diffs:
                    print(f"  {_describe(diff)}")
                return 1
            print(f"{shown}: the schema matches the models")
            return 0
        current, head = revisions(engine)
        state = "head" if current == head else f"head is {head}: run `cart db upgrade`"
        print(f"{shown}: {current or 'empty (no migration applied)'} ({state})")
        return 0
    except (CommandError, SQLAlchemyError) as exc:
        print(f"cart db {args.action}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _describe(diff: object) -> str:
    """One autogenerate difference as ``operation table column``: names, not reprs."""
    if isinstance(diff, list):
        return "; ".join(_describe(d) for d in diff)
    if not isinstance(diff, tuple) or not diff:
        return repr(diff)
    words = [str(diff[0])]
    for item in diff[1:]:
        name = item if isinstance(item, str) else getattr(item, "name", None)
        if isinstance(name, str):
            words.append(name)
    return " ".join(words)
