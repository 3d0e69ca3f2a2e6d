"""Write docs/classification.md from the rule tables (``--check``: exit 1 if it is stale).

.venv/bin/python scripts/gen_classification_doc.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cart.classify.doc import render_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "classification.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the file is current")
    args = parser.parse_args(argv)
    text = render_markdown()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else None
    if args.check:
        if current != text:
            sys.stderr.write(f"{DOC} is stale: run scripts/gen_classification_doc.py\n")
            return 1
        return 0
    if current != text:
        DOC.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {DOC}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
