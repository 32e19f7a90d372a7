#!/usr/bin/env python3
"""Extracts the fenced code blocks of one language from README.md into one program.

    scripts/readme_blocks.py python OUT.py     # or: kotlin OUT.kts
    scripts/readme_blocks.py --count python    # prints how many blocks there are

The blocks are joined in README order (later blocks use names the earlier ones define),
each preceded by a comment naming its README line, so an error points at the README.
Imports are kept where they are. Exits non-zero if the language has no block, so a
renamed fence cannot silently turn the check off.
"""

from __future__ import annotations

import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
COMMENT = {"python": "#", "kotlin": "//", "rust": "//"}


def blocks(text: str, lang: str) -> list[tuple[int, str]]:
    """(first line number, code) of every ```lang block."""
    out: list[tuple[int, str]] = []
    cur: list[str] | None = None
    start = 0
    for no, line in enumerate(text.splitlines(), 1):
        t = line.lstrip()
        if cur is None:
            if t.startswith("```") and t[3:].strip() == lang:
                cur, start = [], no + 1
        elif t.startswith("```"):
            out.append((start, "\n".join(cur) + "\n"))
            cur = None
        else:
            cur.append(line)
    if cur is not None:
        raise SystemExit(f"README.md: unterminated ```{lang} block at line {start - 1}")
    return out


def program(lang: str, readme: Path = README) -> str:
    found = blocks(readme.read_text(encoding="utf-8"), lang)
    if not found:
        raise SystemExit(f"README.md has no ```{lang} block")
    c = COMMENT[lang]
    return "".join(f"{c} README.md line {no}\n{code}" for no, code in found)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--count":
        print(len(blocks(README.read_text(encoding="utf-8"), argv[1])))
        return 0
    if len(argv) != 2 or argv[0] not in COMMENT:
        print(__doc__, file=sys.stderr)
        return 2
    Path(argv[1]).write_text(program(argv[0]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
