"""Build a calibration pairs file from a folder with one sub-folder of photos per person:
every same-person pair (Decision=Yes) and every different-person pair (Decision=No).

    python -m pension_cert.pairs ../shared/data/faces/johns --out var/johns_pairs.csv
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from pathlib import Path

SUFFIXES = (".jpg", ".jpeg", ".png")


def pairs(root: Path) -> list[tuple[str, str, str]]:
    photos = sorted(
        (person.name, str(photo.relative_to(root)))
        for person in root.iterdir() if person.is_dir()
        for photo in person.iterdir() if photo.suffix.lower() in SUFFIXES
    )
    return [(x, y, "Yes" if px == py else "No")
            for (px, x), (py, y) in itertools.combinations(photos, 2)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pension_cert.pairs")
    parser.add_argument("root", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = pairs(args.root)
    lines = [["file_x", "file_y", "Decision"], *rows]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerows(lines)
    else:
        csv.writer(sys.stdout, lineterminator="\n").writerows(lines)
    same = sum(1 for r in rows if r[2] == "Yes")
    print(f"{len(rows)} pairs: {same} same, {len(rows) - same} different", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
