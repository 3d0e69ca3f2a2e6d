"""`cart sync [--once]`: deliver the SIC outbox by hand (the service does it in the background).

Without ``--once`` it runs until interrupted (SIGINT/SIGTERM), like the service's worker.
With ``--once`` it makes one pass over the entries due now and prints a JSON report;
the exit status is 1 when the destination could not be reached or kept failing, 0
otherwise (rejected entries are parked and reported, they do not fail the run).
``--status`` only prints the outbox counts (what `GET /api/v1/sync` shows).
"""

from __future__ import annotations

import argparse
import sys

NAME = "sync"
HELP = "send completed screenings waiting in the outbox to SIC (FHIR R4)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once", action="store_true", help="one pass over the due entries, then exit"
    )
    parser.add_argument("--status", action="store_true", help="print the outbox counts and exit")
    parser.add_argument(
        "--retry-rejected", action="store_true", help="put rejected entries back in the queue first"
    )
    parser.add_argument("--database-url", help="SQLAlchemy URL (CART_DATABASE_URL)")
    parser.add_argument("--base-url", help="FHIR base URL of SIC (CART_SIC_BASE_URL)")
    parser.add_argument("--timeout", type=float, help="seconds per request (default 30)")
    parser.add_argument("--backoff", type=float, help="first retry delay in seconds (default 2)")
    parser.add_argument("--backoff-max", type=float, help="longest retry delay (default 900)")
    parser.add_argument(
        "--lease", type=float, help="seconds an entry stays claimed by this process (default 120)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        help="seconds before a first send whose answer never came goes again (default 600)",
    )


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging
    import signal
    from dataclasses import replace

    from pydantic import ValidationError

    from cart.config import load_settings
    from cart.sic import RetryPolicy, worker_from_settings
    from cart.store import Store, create_db_engine, migrate

    overrides: dict[str, object] = {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    if args.base_url:
        overrides["sic_base_url"] = args.base_url
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        print(f"cart sync: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    engine = create_db_engine(settings.database_url)
    try:
        migrate(engine)
        store = Store(engine)
        if args.status:
            print(json.dumps(store.sync_status(), ensure_ascii=False))
            return 0
        if not settings.sic_base_url:
            print("cart sync: set CART_SIC_BASE_URL (or --base-url)", file=sys.stderr)
            return 2
        if args.retry_rejected:
            count = store.outbox_requeue_rejected()
            print(f"cart sync: {count} rejected entries back in the queue", file=sys.stderr)
        policy = RetryPolicy()
        knobs = {
            "timeout": args.timeout,
            "backoff_base": args.backoff,
            "backoff_max": args.backoff_max,
            "lease": args.lease,
            "settle": args.settle,
        }
        policy = replace(policy, **{k: v for k, v in knobs.items() if v is not None})
        worker = worker_from_settings(settings, store, policy)

        async def once() -> int:
            async with worker:
                report = await worker.sync_pass()
            status = await asyncio.to_thread(store.sync_status)
            print(json.dumps({"pass": report.to_json(), "outbox": status}, ensure_ascii=False))
            return 1 if report.pause is not None else 0

        async def forever() -> int:
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            worker.start()
            await stop.wait()
            await worker.stop()
            return 0

        return asyncio.run(once() if args.once else forever())
    finally:
        engine.dispose()
