"""Calibrate the liveness thresholds on genuine recordings whose actions are labelled:

    python -m pension_cert.calibrate liveness CLIP [--blink 42 --mouth 57-62 --turn 26-36 ...]

CLIP is a video (read with PyAV, a development dependency) or a folder of JPEG frames.
Labels are frame numbers at the recording's own rate; the clip is measured at 15 fps in
both phases (even and odd frames), as the app sends it. Without labels, those of the
shared carphone clip are used. For each action the hardest genuine case (the weakest
blink, the least-open mouth, the smallest turn) is set against the noisiest frame with
no action, and the threshold goes between them. The last line is one JSON object with
the recommended settings (FACE_BLINK_RATIO, FACE_MOUTH_OPEN, FACE_TURN_YAW), what they
rest on, and the values in force now.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from pension_cert.face import FaceCheckConfig, FrameMeasure, decode_frame, find_faces, measure_frame
from pension_cert.liveness import NEIGHBOURHOOD, smoothed

CARPHONE = {"blink": [(42, 42), (92, 92), (112, 112)], "mouth": [(57, 62), (107, 115)],
            # 80-90: a segment that starts with the head already turning (issue 13).
            "turn": [(26, 36), (74, 90), (80, 90)]}
MARGIN = 3  # frames either side of a label that are neither action nor rest


@dataclass(frozen=True)
class Recommendation:
    blink_ratio: float
    mouth_open: float
    turn_yaw: float
    evidence: dict[str, float]

    def as_json(self, current: FaceCheckConfig) -> str:
        return json.dumps({
            "FACE_BLINK_RATIO": round(self.blink_ratio, 3),
            "FACE_MOUTH_OPEN": round(self.mouth_open, 3),
            "FACE_TURN_YAW": round(self.turn_yaw, 3),
            "evidence": {k: round(v, 3) for k, v in self.evidence.items()},
            "current": {"FACE_BLINK_RATIO": current.blink_ratio,
                        "FACE_MOUTH_OPEN": current.mouth_open_mar,
                        "FACE_TURN_YAW": current.turn_yaw}})


def read_frames(path: Path) -> list[bytes]:
    if path.is_dir():
        return [p.read_bytes() for p in sorted(path.iterdir())
                if p.suffix.lower() in (".jpg", ".jpeg")]
    try:
        import av
    except ImportError:
        raise SystemExit("reading a video needs PyAV (pip install av); "
                         "or pass a folder of JPEG frames") from None
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            buffer = io.BytesIO()
            frame.to_image().save(buffer, "JPEG", quality=90)
            frames.append(buffer.getvalue())
    return frames


def measure(frames: Sequence[bytes], config: FaceCheckConfig) -> dict[int, FrameMeasure]:
    """Every frame with exactly one face, by frame number."""
    found: dict[int, FrameMeasure] = {}
    for number, data in enumerate(frames):
        image = decode_frame(data, config.max_pixels)
        boxes = find_faces(image)
        if len(boxes) == 1:
            measured, crop = measure_frame(number, image, boxes[0])
            if crop is not None:
                found[number] = measured
    return found


def recommend(measures: dict[int, FrameMeasure], labels: dict[str, list[tuple[int, int]]]
              ) -> Recommendation:
    blink_dips, open_dips, mouth_peaks, closed, turns = [], [], [], [], []
    for phase in (0, 1):
        seq = [measures[n] for n in sorted(measures) if n % 2 == phase]
        numbers = [m.index for m in seq]
        ratios = _eye_ratios(seq)
        for first, last in labels["blink"]:
            near = [r for n, r in zip(numbers, ratios, strict=True)
                    if first - 1 <= n <= last + 1]
            if near:
                blink_dips.append(min(near))
        open_dips += [r for n, r in zip(numbers, ratios, strict=True)
                      if not _near(n, labels["blink"])]
        for first, last in labels["mouth"]:
            inside = [m.mar for m in seq if first <= m.index <= last]
            if inside:
                mouth_peaks.append(max(inside))
        closed += [m.mar for m in seq if not _near(m.index, labels["mouth"])]
        yaws = smoothed([m.yaw for m in seq])
        for first, last in labels["turn"]:
            # From the labelled start (a recording may begin mid-turn) to a little after.
            around = [y for n, y in zip(numbers, yaws, strict=True)
                      if first <= n <= last + MARGIN]
            if around:
                turns.append(max(around) - min(around))
    weakest_blink, steadiest_open = max(blink_dips), min(open_dips)
    least_open, widest_closed = min(mouth_peaks), max(closed)
    smallest_turn = min(turns)
    return Recommendation(
        blink_ratio=(weakest_blink + steadiest_open) / 2,
        mouth_open=(least_open + widest_closed) / 2,
        turn_yaw=0.8 * smallest_turn,  # a turn's start and end each lose a little to smoothing
        evidence={"weakest_blink_dip": weakest_blink, "lowest_open_eye": steadiest_open,
                  "least_open_mouth": least_open, "widest_closed_mouth": widest_closed,
                  "smallest_turn": smallest_turn})


def _eye_ratios(seq: Sequence[FrameMeasure]) -> list[float]:
    """Each frame's eye ratio over its neighbourhood's median, as liveness measures it."""
    ears = [m.ear for m in seq]
    ratios = []
    for i, ear in enumerate(ears):
        around = [e for j, e in enumerate(ears) if 1 < abs(j - i) <= NEIGHBOURHOOD]
        ratios.append(ear / median(around) if around else 1.0)
    return ratios


def _near(number: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(first - MARGIN <= number <= last + MARGIN for first, last in spans)


def parse_span(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def run(path: Path, labels: dict[str, list[tuple[int, int]]] | None,
        current: FaceCheckConfig) -> str:
    frames = read_frames(path)
    measures = measure(frames, current)
    chosen = labels if labels and any(labels.values()) else CARPHONE
    return recommend(measures, chosen).as_json(current)

