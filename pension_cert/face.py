"""Face work: safe decoding, per-frame measurements, liveness and identity. CPU only.

Everything here runs inside the face process pool (see ``pool.py``), never on the
event loop. Functions take and return plain data (bytes, lists, dataclasses of
primitives) so they cross the process boundary cheaply.

Conventions:
- Frames are *not* mirrored: the subject's left is the image's right. Turning the
  head to the subject's left moves the nose towards the image's right, which is a
  positive yaw here.
- Faces are measured on a crop scaled so the face is ``FACE_WORK_WIDTH`` pixels
  wide: landmarks on a 50-pixel face are too coarse for eye ratios.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FACE_WORK_WIDTH = 160
MAX_LONG_SIDE = 640


@dataclass(frozen=True)
class FaceCheckConfig:
    max_pixels: int = 2_000_000  # refuse decompression bombs before decoding
    min_face_px: int = 40
    min_brightness: float = 45.0  # mean luminance of the face, 0-255
    min_sharpness: float = 4.0  # variance of the Laplacian of the face scaled to 160 px
    max_missing_ratio: float = 0.2  # frames without a face (e.g. at the far end of a turn)
    still_threshold: float = 1.2  # median mean-absolute change between consecutive faces
    blink_ratio: float = 0.65  # EAR below this share of the session's median is a blink
    blink_ceiling: float = 0.25
    mouth_open_mar: float = 0.38
    turn_yaw: float = 0.3
    identity_tolerance: float = 0.55  # every sampled frame must be this close to the best
    identity_samples: int = 5
    # The whole frame is searched (and faces counted) on every n-th frame; in between the
    # face is tracked near its last place. At 15 fps a second face must stay in view for
    # a third of a second to be seen.
    full_search_every: int = 5


class Action:
    BLINK = "blink"
    OPEN_MOUTH = "open_mouth"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    ALL = (BLINK, OPEN_MOUTH, TURN_LEFT, TURN_RIGHT)


@dataclass(frozen=True)
class FrameMeasure:
    index: int
    faces: int
    face_px: int = 0
    brightness: float = 0.0
    sharpness: float = 0.0
    ear: float = 0.0
    mar: float = 0.0
    yaw: float = 0.0
    thumb: bytes = b""  # 32x32 grey face, for the still-photo check
    box: tuple[int, int, int, int] | None = None


@dataclass
class Analysis:
    """What the pool sends back: a refusal reason, or the best frontal encoding."""

    reason: str | None
    encoding: list[float] | None = None
    detail: dict[str, float] = field(default_factory=dict)
    frames: int = 0


class BadFrame(ValueError):
    pass


# -- decoding ------------------------------------------------------------------------


def decode_frame(data: bytes, max_pixels: int) -> np.ndarray:
    """A JPEG as an RGB array, upright (EXIF), at most MAX_LONG_SIDE on its long side.

    The pixel count is read from the header and checked before any pixel is decoded,
    so a small file that claims to be huge (a decompression bomb) costs nothing.
    """
    try:
        opened = Image.open(io.BytesIO(data))
        if opened.format != "JPEG":
            raise BadFrame("not a JPEG")
        width, height = opened.size
        if width * height > max_pixels or width < 32 or height < 32:
            raise BadFrame("frame size out of range")
        image = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise BadFrame(str(error)) from None
    if max(image.size) > MAX_LONG_SIDE:
        image.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE))
    return np.asarray(image)


# -- measurements ----------------------------------------------------------------------


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def eye_aspect_ratio(eye: Sequence[tuple[float, float]]) -> float:
    p = np.asarray(eye, dtype=float)
    return (_distance(p[1], p[5]) + _distance(p[2], p[4])) / (2 * _distance(p[0], p[3]))


def mouth_aspect_ratio(top_lip: Sequence[tuple[float, float]],
                       bottom_lip: Sequence[tuple[float, float]]) -> float:
    """Inner-lip opening over mouth width (68-point model: 61-67, 62-66, 63-65 over 48-54)."""
    t, b = np.asarray(top_lip, dtype=float), np.asarray(bottom_lip, dtype=float)
    opening = (_distance(t[10], b[9]) + _distance(t[9], b[10]) + _distance(t[8], b[11])) / 3
    return opening / _distance(t[0], t[6])


def yaw_ratio(chin: Sequence[tuple[float, float]], nose_tip: Sequence[tuple[float, float]]
              ) -> float:
    """Where the nose sits between the two jaw edges: 0 frontal, >0 turned to the
    subject's left, <0 to their right."""
    jaw = np.asarray(chin, dtype=float)
    nose = np.asarray(nose_tip, dtype=float).mean(axis=0)
    left, right = _distance(nose, jaw[0]), _distance(nose, jaw[16])
    return (left - right) / (left + right)


def laplacian_variance(grey: np.ndarray) -> float:
    g = grey.astype(float)
    lap = (-4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:])
    return float(lap.var())


def _upsample_for(image: np.ndarray) -> int:
    # HOG finds faces of about 80 px; a 40 px face in a small frame needs 2x upsampling.
    short = min(image.shape[:2])
    return 2 if short < 320 else 1


def _face_crop(image: np.ndarray, box: tuple[int, int, int, int]
               ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The face with a margin, scaled so the face is FACE_WORK_WIDTH wide; and the box in it."""
    top, right, bottom, left = box
    width = right - left
    margin = width // 2
    y0, x0 = max(0, top - margin), max(0, left - margin)
    y1, x1 = min(image.shape[0], bottom + margin), min(image.shape[1], right + margin)
    crop = Image.fromarray(image[y0:y1, x0:x1])
    scale = FACE_WORK_WIDTH / max(width, 1)
    crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))),
                       Image.Resampling.BICUBIC)
    scaled = (round((top - y0) * scale), round((right - x0) * scale),
              round((bottom - y0) * scale), round((left - x0) * scale))
    return np.asarray(crop), scaled


Box = tuple[int, int, int, int]  # top, right, bottom, left
TRACK_WIDTH = 100  # the face's width in the small search window around its last place


def find_faces(image: np.ndarray) -> list[Box]:
    import face_recognition

    found = face_recognition.face_locations(image,
                                            number_of_times_to_upsample=_upsample_for(image))
    return [(int(t), int(r), int(b), int(le)) for t, r, b, le in found]


def track_face(image: np.ndarray, last: Box) -> Box | None:
    """Look for the face only near where it was, at a fixed small scale: far cheaper than
    searching the whole frame. None when it is not found there exactly once."""
    import face_recognition

    top, right, bottom, left = last
    width = right - left
    y0, x0 = max(0, top - width), max(0, left - width)
    y1, x1 = min(image.shape[0], bottom + width), min(image.shape[1], right + width)
    scale = TRACK_WIDTH / max(width, 1)
    window = Image.fromarray(image[y0:y1, x0:x1])
    window = window.resize((max(1, round(window.width * scale)),
                            max(1, round(window.height * scale))), Image.Resampling.BILINEAR)
    found = face_recognition.face_locations(np.asarray(window), number_of_times_to_upsample=0)
    if len(found) != 1:
        return None
    # The landmark model is sensitive to the box, and the two searches place boxes a
    # little differently: keep the last box unless the face really moved, and then
    # move it (same size) by the distance the face moved.
    t, r, b, le = found[0]
    cy, cx = y0 + (t + b) / (2 * scale), x0 + (r + le) / (2 * scale)
    dy, dx = cy - (top + bottom) / 2, cx - (left + right) / 2
    if max(abs(dy), abs(dx)) < 0.15 * width:
        return last
    return (round(top + dy), round(right + dx), round(bottom + dy), round(left + dx))


def measure_frame(index: int, image: np.ndarray, box: Box | None = None
                  ) -> tuple[FrameMeasure, tuple | None]:
    """Measure one frame. Without ``box`` the whole frame is searched (and faces counted)."""
    import face_recognition

    if box is None:
        boxes = find_faces(image)
        if len(boxes) != 1:
            return FrameMeasure(index=index, faces=len(boxes)), None
        box = boxes[0]
    crop, crop_box = _face_crop(image, box)
    marks = face_recognition.face_landmarks(crop, [crop_box])
    grey = np.asarray(Image.fromarray(crop).convert("L"))
    top, right, bottom, left = crop_box
    face_grey = grey[max(0, top):bottom, max(0, left):right]
    if not marks or face_grey.size == 0:
        return FrameMeasure(index=index, faces=0), None
    m = marks[0]
    thumb = Image.fromarray(face_grey).resize((32, 32), Image.Resampling.BILINEAR).tobytes()
    measure = FrameMeasure(
        index=index, faces=1, face_px=box[1] - box[3], box=box,
        brightness=float(face_grey.mean()), sharpness=laplacian_variance(face_grey),
        ear=(eye_aspect_ratio(m["left_eye"]) + eye_aspect_ratio(m["right_eye"])) / 2,
        mar=mouth_aspect_ratio(m["top_lip"], m["bottom_lip"]),
        yaw=yaw_ratio(m["chin"], m["nose_tip"]), thumb=thumb,
    )
    return measure, (crop, crop_box)


def encode(crop: np.ndarray, crop_box: tuple) -> np.ndarray:
    import face_recognition

    return face_recognition.face_encodings(crop, [crop_box])[0]


# -- liveness ------------------------------------------------------------------------


def action_frames(measures: Sequence[FrameMeasure], action: str, config: FaceCheckConfig
                  ) -> list[int]:
    """Indices (in ``measures``) of frames that show ``action``, against the session's own
    baseline: median eye ratio, and the head pose of the first frames (the challenge
    starts facing the camera)."""
    ears = [m.ear for m in measures]
    baseline_ear = median(ears)
    baseline_yaw = median(m.yaw for m in measures[:5])
    hits = []
    for i, m in enumerate(measures):
        if action == Action.BLINK:
            hit = m.ear < min(config.blink_ratio * baseline_ear, config.blink_ceiling)
        elif action == Action.OPEN_MOUTH:
            hit = m.mar > config.mouth_open_mar
        elif action == Action.TURN_LEFT:
            hit = m.yaw - baseline_yaw > config.turn_yaw
        else:
            hit = baseline_yaw - m.yaw > config.turn_yaw
        if hit:
            hits.append(i)
    return hits


def actions_in_order(measures: Sequence[FrameMeasure], actions: Sequence[str],
                     config: FaceCheckConfig) -> str | None:
    """None when every action happened after the previous one; else the reason."""
    after = -1
    for action in actions:
        hits = action_frames(measures, action, config)
        if not hits:
            return f"{action.upper()}_NOT_DETECTED"
        later = [i for i in hits if i > after]
        if not later:
            return "WRONG_ORDER"
        # The next action must start once this one is over.
        run_end = later[0]
        while run_end + 1 in hits:
            run_end += 1
        after = run_end
    return None


def looks_still(measures: Sequence[FrameMeasure], config: FaceCheckConfig) -> bool:
    """A photo held up (or the same frame sent again and again) barely changes."""
    thumbs = [np.frombuffer(m.thumb, dtype=np.uint8).astype(float) for m in measures]
    if len(thumbs) < 2:
        return True
    changes = [float(np.abs(a - b).mean()) for a, b in itertools.pairwise(thumbs)]
    ears = [m.ear for m in measures]
    return median(changes) < config.still_threshold and (max(ears) - min(ears)) < 0.05


def analyse(frames: Sequence[bytes], actions: Sequence[str], config: FaceCheckConfig
            ) -> Analysis:
    """The whole check of one submission. Runs in a pool worker."""
    measures: list[FrameMeasure] = []
    crops: dict[int, tuple[np.ndarray, tuple]] = {}
    luminance: list[float] = []
    short_sides: list[int] = []
    for index, data in enumerate(frames):
        try:
            image = decode_frame(data, config.max_pixels)
        except BadFrame:
            return Analysis("BAD_FRAME", frames=len(frames))
        luminance.append(float(image.mean()))
        short_sides.append(min(image.shape[:2]))
        tracked = None
        if index % config.full_search_every and measures and measures[-1].box is not None:
            tracked = track_face(image, measures[-1].box)
        measure, crop = measure_frame(index, image, tracked)
        if measure.faces > 1:
            return Analysis("MULTIPLE_FACES", frames=len(frames))
        if crop is not None:
            measures.append(measure)
            crops[index] = crop
    if len(measures) < max(2, (1 - config.max_missing_ratio) * len(frames)):
        # Say why no face was found when the frames themselves show it.
        if median(luminance) < config.min_brightness:
            return Analysis("TOO_DARK", frames=len(frames))
        if median(short_sides) < 3 * config.min_face_px:
            return Analysis("FACE_TOO_SMALL", frames=len(frames))
        return Analysis("NO_FACE", frames=len(frames))
    if looks_still(measures, config):
        return Analysis("STILL_PHOTO", frames=len(frames))
    reason = _quality_reason(measures, config)
    if reason:
        return Analysis(reason, frames=len(frames))
    reason = actions_in_order(measures, actions, config)
    if reason:
        return Analysis(reason, frames=len(frames))
    return _identity(measures, crops, config, len(frames))


def _quality_reason(measures: Sequence[FrameMeasure], config: FaceCheckConfig) -> str | None:
    if median(m.face_px for m in measures) < config.min_face_px:
        return "FACE_TOO_SMALL"
    if median(m.brightness for m in measures) < config.min_brightness:
        return "TOO_DARK"
    if median(m.sharpness for m in measures) < config.min_sharpness:
        return "TOO_BLURRY"
    return None


def _identity(measures: Sequence[FrameMeasure], crops: dict[int, tuple[np.ndarray, tuple]],
              config: FaceCheckConfig, total: int) -> Analysis:
    """Encode the most frontal open-eyed frame, and check sampled frames are the same person."""
    ears = median(m.ear for m in measures)
    candidates = [m for m in measures if m.ear >= 0.8 * ears and m.mar < config.mouth_open_mar]
    best = min(candidates or measures, key=lambda m: abs(m.yaw))
    reference = encode(*crops[best.index])
    step = max(1, len(measures) // config.identity_samples)
    worst = 0.0
    for m in measures[::step]:
        distance = float(np.linalg.norm(encode(*crops[m.index]) - reference))
        worst = max(worst, distance)
        if distance > config.identity_tolerance:
            return Analysis("IDENTITY_CHANGED", frames=total, detail={"worst": worst})
    return Analysis(None, encoding=[float(x) for x in reference], frames=total,
                    detail={"worst_identity_distance": worst, "best_frame": best.index})


def encode_photo(data: bytes, config: FaceCheckConfig) -> tuple[str | None, list[float] | None]:
    """A reference photo: exactly one face, large enough. Returns (problem, encoding)."""
    import face_recognition

    try:
        opened = Image.open(io.BytesIO(data))
        width, height = opened.size
        if width * height > config.max_pixels * 8:
            return "TOO_LARGE", None
        image = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return "NOT_AN_IMAGE", None
    # Detect on a downscaled copy, encode on the full image (domain rules §2).
    full = np.asarray(image)
    small = image.copy()
    small.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE))
    scale = image.width / small.width
    boxes = face_recognition.face_locations(np.asarray(small),
                                            number_of_times_to_upsample=_upsample_for(
                                                np.asarray(small)))
    if not boxes:
        return "NO_FACE", None
    if len(boxes) > 1:
        return "MULTIPLE_FACES", None
    top, right, bottom, left = (round(v * scale) for v in boxes[0])
    if right - left < 80:
        return "FACE_TOO_SMALL", None
    encoding = face_recognition.face_encodings(full, [(top, right, bottom, left)])[0]
    return None, [float(x) for x in encoding]


def encode_like_live(data: bytes, config: FaceCheckConfig) -> np.ndarray | None:
    """An image encoded exactly as a live frame is; None without exactly one face."""
    try:
        image = decode_frame(data, config.max_pixels)
    except BadFrame:
        return None
    measure, crop = measure_frame(0, image)
    if measure.faces != 1 or crop is None:
        return None
    return encode(*crop)
