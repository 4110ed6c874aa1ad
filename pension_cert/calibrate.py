"""Calibrate the face check on your own people and recordings.

    python -m pension_cert.calibrate PAIRS.csv --images DIR [--target-far 0.001]
    python -m pension_cert.calibrate liveness CLIP [--blink N] [--mouth A-B] [--turn A-B]

The second form calibrates the liveness thresholds (see ``calibrate_liveness``).

PAIRS.csv has ``file_x,file_y,Decision`` (Yes: the same person; No: different people),
paths relative to ``--images``. ``file_x`` is encoded the way enrolment encodes a
reference photo (the face found on a copy scaled down to 640 pixels, encoded on the full
image), ``file_y`` the way a live frame is (scaled down to what a phone sends, the face
cropped and scaled to 160 px): a large everyday photo is scaled, never skipped. An image
is skipped only without exactly one face. The last line printed is one JSON
object: pairs used, pairs skipped (an image without exactly one face), the true-accept
rate at false-accept rates 0, 0.1 % and 1 %, the equal-error rate, and the threshold
recommended for the target false-accept rate. The face_recognition authors warn that
accuracy differs between groups of people: calibrate on the people you serve.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pension_cert import calibrate_liveness
from pension_cert.face import FaceCheckConfig, encode_like_live, encode_photo


@dataclass(frozen=True)
class Calibration:
    pairs: int
    skipped: int
    tar_at_far: dict[str, float]
    eer: float
    threshold: float

    def as_json(self) -> str:
        return json.dumps({"pairs": self.pairs, "skipped": self.skipped,
                           "tar_at_far": self.tar_at_far, "eer": round(self.eer, 4),
                           "threshold": round(self.threshold, 4)})


def threshold_at_far(impostor: np.ndarray, far: float) -> float:
    """The largest distance threshold whose false-accept rate stays within ``far``.

    A pair is accepted when its distance is <= the threshold.
    """
    ordered = np.sort(impostor)
    allowed = int(np.floor(far * len(ordered)))  # impostor pairs we may accept
    if allowed >= len(ordered):
        return float(ordered[-1])
    # Just below the (allowed+1)-th smallest impostor distance.
    return float(np.nextafter(ordered[allowed], -np.inf))


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> float:
    best, eer = 2.0, 1.0
    for t in np.unique(np.concatenate([genuine, impostor])):
        far = float(np.mean(impostor <= t))
        frr = float(np.mean(genuine > t))
        if abs(far - frr) < best:
            best, eer = abs(far - frr), (far + frr) / 2
    return eer


def calibrate(genuine: Sequence[float] | np.ndarray, impostor: Sequence[float] | np.ndarray, *,
              skipped: int,
              target_far: float) -> Calibration:
    g, i = np.asarray(genuine, dtype=float), np.asarray(impostor, dtype=float)
    if len(g) == 0 or len(i) == 0:
        raise ValueError("need both same-person and different-person pairs")
    tar = {}
    for far in (0.0, 0.001, 0.01):
        t = threshold_at_far(i, far)
        tar[str(far) if far else "0"] = round(float(np.mean(g <= t)), 4)
    return Calibration(pairs=len(g) + len(i), skipped=skipped, tar_at_far=tar,
                       eer=equal_error_rate(g, i), threshold=threshold_at_far(i, target_far))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["liveness"]:
        return liveness_main(args[1:])
    return pairs_main(args)


def liveness_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pension_cert.calibrate liveness",
                                     description=calibrate_liveness.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    for action in ("blink", "mouth", "turn"):
        parser.add_argument(f"--{action}", action="append", default=[],
                            type=calibrate_liveness.parse_span, help="frame N or A-B")
    args = parser.parse_args(argv)
    labels = {"blink": args.blink, "mouth": args.mouth, "turn": args.turn}
    print(calibrate_liveness.run(args.clip, labels, FaceCheckConfig()))
    return 0


def reference_encoding(data: bytes, config: FaceCheckConfig) -> np.ndarray | None:
    """As enrolment encodes an official photo, with no minimum face size: everyday
    photos are what is being calibrated on."""
    problem, encoding = encode_photo(data, config, min_face_px=0, max_pixels=None)
    return None if problem or encoding is None else np.asarray(encoding)


def pairs_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pension_cert.calibrate",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--target-far", type=float, default=0.001)
    args = parser.parse_args(argv)
    with args.pairs.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    config = FaceCheckConfig()
    references: dict[str, np.ndarray | None] = {}
    probes: dict[str, np.ndarray | None] = {}
    for name in tqdm(sorted({r["file_x"] for r in rows}), desc="references", unit="image",
                     file=sys.stderr):
        path = args.images / name
        references[name] = reference_encoding(path.read_bytes(), config) if path.exists() \
            else None
    for name in tqdm(sorted({r["file_y"] for r in rows}), desc="live probes", unit="image",
                     file=sys.stderr):
        path = args.images / name
        probes[name] = encode_like_live(path.read_bytes(), config) if path.exists() else None
    genuine: list[float] = []
    impostor: list[float] = []
    skipped = 0
    for row in rows:
        x, y = references.get(row["file_x"]), probes.get(row["file_y"])
        if x is None or y is None:
            skipped += 1
            continue
        distance = float(np.linalg.norm(x - y))
        (genuine if row["Decision"].strip().lower() == "yes" else impostor).append(distance)
    result = calibrate(genuine, impostor, skipped=skipped, target_far=args.target_far)
    print(f"same-person pairs {len(genuine)}, different-person pairs {len(impostor)}",
          file=sys.stderr)
    print(result.as_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
