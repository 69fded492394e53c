"""Copy the generated results into README.md's benchmark section.

    pyframe bench --full --markdown docs/bench/results.md --plot docs/bench
    python bench/update_readme.py docs/bench/results.md

Replaces what lies between the README's ``<!-- bench-results:start -->`` and
``<!-- bench-results:end -->`` markers with the run's header, its goals, the legend and the
sections named in EXCERPT (every table stays in docs/bench/results.md). Nothing is typed
by hand: the figures are the run's.
"""

import re
import sys
from pathlib import Path

START, END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"
EXCERPT = (
    "Goals",
    "How to read the tables",
    "decode: 4-byte big-endian length prefix, 64 KiB chunks",
    "decode: newline-delimited, 64 KiB chunks",
    "receive: 4-byte big-endian length prefix, loopback TCP, blocking",
    "receive: newline-delimited, loopback TCP, uvloop",
    "send: 4-byte big-endian length prefix, one frame per call",
)


def excerpt(results: str) -> str:
    parts = re.split(r"^### ", results, flags=re.M)
    head = parts[0].split("\n", 2)[2] if parts[0].startswith("## ") else parts[0]
    keep = [head.strip()]
    for part in parts[1:]:
        title = part.split("\n", 1)[0]
        if any(title.startswith(name) for name in EXCERPT):
            keep.append("#### " + part.strip())
    return "\n\n".join(keep)


def main(argv: list[str]) -> int:
    results = Path(argv[1] if len(argv) > 1 else "docs/bench/results.md").read_text()
    readme = Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"{readme}: markers {START} / {END} not found", file=sys.stderr)
        return 2
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(f"{before}{START}\n{excerpt(results)}\n{END}{after}")
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
