"""`cart decode ID PAYLOAD` and `cart decode --list` (DESIGN section 3)."""

from __future__ import annotations

import argparse
import codecs
import json
import sys

NAME = "decode"
HELP = "decode one frame or characteristic value of a wire format and print JSON"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("protocol", nargs="?", help="wire-format id (see --list)")
    parser.add_argument(
        "payload",
        nargs="?",
        help="literal frame with C escapes (\\r, \\n, \\x02) for text formats; hex for binary",
    )
    parser.add_argument("--list", action="store_true", help="list every wire-format id")
    parser.add_argument(
        "--hex", action="store_true", help="read PAYLOAD as hex whatever the format"
    )


def parse_payload(payload: str, *, as_hex: bool) -> bytes:
    """Hex (spaces, colons and a 0x prefix allowed) or a literal with C escapes."""
    if as_hex:
        cleaned = payload.replace(" ", "").replace(":", "").replace("-", "")
        if cleaned.lower().startswith("0x"):
            cleaned = cleaned[2:]
        return bytes.fromhex(cleaned)
    raw: bytes = codecs.escape_decode(payload.encode("utf-8"))[0]
    return raw


def run(args: argparse.Namespace) -> int:
    from cart.errors import ProtocolError
    from cart.protocols import PayloadKind, all_protocols, get_protocol

    if args.list:
        for spec in all_protocols().values():
            uuid = f" (0x{spec.uuid:04X})" if spec.uuid is not None else ""
            print(f"{spec.id}\t{spec.payload}\t{spec.title}{uuid}")
        return 0
    if not args.protocol or args.payload is None:
        print("usage: cart decode ID PAYLOAD | cart decode --list", file=sys.stderr)
        return 2
    try:
        spec = get_protocol(args.protocol)
        try:
            data = parse_payload(args.payload, as_hex=args.hex or spec.payload == PayloadKind.HEX)
        except ValueError as exc:
            _print_error("InvalidPayload", f"PAYLOAD is not valid: {exc}")
            return 1
        decoded = spec.decode(data)
    except ProtocolError as exc:
        _print_error(exc.type_name, exc.message)
        return 1
    print(json.dumps(decoded.to_json(), ensure_ascii=False))
    return 0


def _print_error(type_name: str, message: str) -> None:
    print(json.dumps({"error": {"type": type_name, "message": message}}, ensure_ascii=False))
