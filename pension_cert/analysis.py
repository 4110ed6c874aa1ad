"""The whole check of one submission, run in a face-pool worker: decode and measure
every frame, then refuse on the first problem found, in the order a person can act on
(no face, a still photo, poor pictures, a broken track, the actions), then identity on
every action frame and on at least one frame in every five at random positions."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

import numpy as np

from pension_cert import liveness
from pension_cert.face import (
    BadFrame,
    Box,
    FaceCheckConfig,
    FrameMeasure,
    decode_frame,
    encode,
    find_faces,
    measure_frame,
    track_face,
)

Crop = tuple[np.ndarray, tuple]


@dataclass
class Analysis:
    """What the pool sends back: a refusal reason, or the best frontal encoding; and the
    hashes of the face frames, for the replay memory."""

    reason: str | None
    encoding: list[float] | None = None
    hashes: list[int] = field(default_factory=list)
    mirrored: list[int] = field(default_factory=list)  # the faces flipped
    detail: dict[str, float] = field(default_factory=dict)
    frames: int = 0


@dataclass(frozen=True)
class Identity:
    """Whom the frames must show: the enrolled encoding and the thresholds."""

    reference: tuple[float, ...]
    match_threshold: float  # the best frame
    sample_seed: int  # which frames are checked, unknown to the client


def analyse(frames: Sequence[bytes], actions: Sequence[str], config: FaceCheckConfig,
            identity: Identity) -> Analysis:
    measured = _measure_all(frames, config)
    if isinstance(measured, str):
        return Analysis(measured, frames=len(frames))
    found, crops = measured
    hashes, mirrored = [m.phash for m in found], [m.mirror_hash for m in found]
    measures = liveness.without_glitches(found, config)
    if len(measures) < (1 - config.max_missing_ratio) * len(found):
        return Analysis("TRACK_BROKEN", hashes=hashes, mirrored=mirrored, frames=len(frames))
    reason = _liveness_reason(measures, actions, config)
    if reason:
        return Analysis(reason, hashes=hashes, mirrored=mirrored, frames=len(frames))
    result = _identity(measures, crops, actions, config, identity)
    result.hashes, result.mirrored, result.frames = hashes, mirrored, len(frames)
    return result


def _measure_all(frames: Sequence[bytes], config: FaceCheckConfig
                 ) -> str | tuple[list[FrameMeasure], dict[int, Crop]]:
    measures: list[FrameMeasure] = []
    crops: dict[int, Crop] = {}
    luminance: list[float] = []
    short_sides: list[int] = []
    others: list[Box] = []  # faces other than the person's, in the frame before
    for index, data in enumerate(frames):
        try:
            image = decode_frame(data, config.max_pixels)
        except BadFrame:
            return "BAD_FRAME"
        luminance.append(float(image.mean()))
        short_sides.append(min(image.shape[:2]))
        last = measures[-1].box if measures else None
        if index % config.full_search_every and last is not None:
            tracked = track_face(image, last)
            main, seen = tracked, ([tracked] if tracked else [])
        else:
            seen = find_faces(image, last[1] - last[3] if last else None)
            main = _main_face(seen, last)
        second = [b for b in seen if b != main]
        if any(_near(b, o) for b in second for o in others):
            return "MULTIPLE_FACES"  # a second face that stays (one frame may be a shadow)
        others = second
        if main is None:
            continue
        measure, crop = measure_frame(index, image, main)
        if crop is not None:
            measures.append(measure)
            crops[index] = crop
    if len(measures) < max(2, (1 - config.max_missing_ratio) * len(frames)):
        # Say why no face was found when the frames themselves show it.
        if median(luminance) < config.min_brightness:
            return "TOO_DARK"
        if median(short_sides) < 3 * config.min_face_px:
            return "FACE_TOO_SMALL"
        return "NO_FACE"
    return measures, crops


def _main_face(boxes: Sequence[Box], last: Box | None) -> Box | None:
    """The person's face: the one nearest where it was, else the largest."""
    if not boxes:
        return None
    if last is not None:
        return min(boxes, key=lambda b: abs(b[1] + b[3] - last[1] - last[3])
                   + abs(b[0] + b[2] - last[0] - last[2]))
    return max(boxes, key=lambda b: b[1] - b[3])


def _near(a: Box, b: Box) -> bool:
    """The same place in two frames: centres closer than the face's width."""
    width = max(a[1] - a[3], b[1] - b[3], 1)
    return abs(a[1] + a[3] - b[1] - b[3]) / 2 < width and abs(a[0] + a[2] - b[0] - b[2]) / 2 < width


def _liveness_reason(measures: Sequence[FrameMeasure], actions: Sequence[str],
                     config: FaceCheckConfig) -> str | None:
    if liveness.looks_still(measures, config):
        return "STILL_PHOTO"
    if median(m.face_px for m in measures) < config.min_face_px:
        return "FACE_TOO_SMALL"
    if median(m.brightness for m in measures) < config.min_brightness:
        return "TOO_DARK"
    if median(m.sharpness for m in measures) < config.min_sharpness:
        return "TOO_BLURRY"
    if not liveness.track_is_continuous(measures, config):
        return "TRACK_BROKEN"
    return liveness.check_actions(measures, actions, config)


def checked_positions(measures: Sequence[FrameMeasure], actions: Sequence[str],
                      config: FaceCheckConfig, seed: int) -> set[int]:
    """The frames that showed the challenged actions (every frame of a blink or an open
    mouth; a turn's first, deepest and last frames, the turn between them being one
    continuous track), and one frame at a random position in every ``identity_every``:
    a frame swapped in anywhere is likely to be looked at."""
    every = max(1, config.identity_every)
    # The seed is secret (drawn by the server with ``secrets``, never sent); the generator
    # only spreads it over the windows, reproducibly for the attempt's record.
    rng = random.Random(seed)  # noqa: S311
    sampled = {start + rng.randrange(min(every, len(measures) - start))
               for start in range(0, len(measures), every)}
    shown: set[int] = set()
    for action, event in zip(actions, liveness.action_events(measures, actions, config),
                             strict=False):
        run = range(event.first, event.last + 1)
        if action in liveness.TURNS:
            direction = liveness.TURNS[action]
            deepest = max(run, key=lambda i: direction * measures[i].yaw)
            shown |= {event.first, deepest, event.last}
        else:
            shown |= set(run)
    return sampled | shown


def _identity(measures: Sequence[FrameMeasure], crops: dict[int, Crop],
              actions: Sequence[str], config: FaceCheckConfig, identity: Identity) -> Analysis:
    """The most frontal open-eyed frame must match the reference within the match
    threshold, and every checked frame within ``identity_tolerance``."""
    reference = np.asarray(identity.reference)
    ears = median(m.ear for m in measures)
    candidates = [m for m in measures if m.ear >= 0.8 * ears and m.mar < config.mouth_open_mar]
    best = min(candidates or measures, key=lambda m: abs(m.yaw))
    best_encoding = encode(*crops[best.index])
    if float(np.linalg.norm(best_encoding - reference)) > identity.match_threshold:
        return Analysis("FACE_MISMATCH")
    worst = 0.0
    checked = sorted(checked_positions(measures, actions, config, identity.sample_seed))
    for position in checked:
        frame = measures[position].index
        distance = float(np.linalg.norm(encode(*crops[frame]) - reference))
        worst = max(worst, distance)
        if distance > config.identity_tolerance:
            return Analysis("IDENTITY_CHANGED", detail={"frame": frame})
    return Analysis(None, encoding=[float(x) for x in best_encoding],
                    detail={"worst_identity_distance": worst, "best_frame": best.index,
                            "encodings": 1 + len(checked)})
