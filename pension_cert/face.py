"""Face work: safe decoding, per-frame measurements and encodings. CPU only.

The liveness rules live in ``liveness``, the whole check of a submission in
``analysis``, and the replay memory's hashes in ``replay``.

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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FACE_WORK_WIDTH = 160
MAX_LONG_SIDE = 640


@dataclass(frozen=True)
class FaceCheckConfig:
    """Thresholds of one check. The liveness ones come from ``python -m
    pension_cert.calibrate liveness`` (see settings: FACE_BLINK_RATIO and the others)."""

    max_pixels: int = 2_000_000  # refuse decompression bombs before decoding
    min_face_px: int = 40
    min_brightness: float = 45.0  # mean luminance of the face, 0-255
    min_sharpness: float = 4.0  # variance of the Laplacian of the face scaled to 160 px
    max_missing_ratio: float = 0.2  # frames without a face (e.g. at the far end of a turn)
    still_threshold: float = 1.2  # median mean-absolute change between consecutive faces
    # A blink: the eye ratio below this share of its own neighbourhood (half a second on
    # either side), so a squint held for seconds is not one.
    blink_ratio: float = 0.75
    mouth_open_mar: float = 0.44  # inner-lip opening over mouth width
    # A turn: the nose moves this far (yaw ratio) from where the head started.
    turn_yaw: float = 0.075
    # A head turns in depth: the nose tip moves more than the eyes against the jaw
    # outline, and the eyes move too. A flat photo, warped, moves them alike or not at all.
    nose_over_eyes: float = 1.3
    eyes_share: float = 0.2
    identity_tolerance: float = 0.6  # every checked frame at most this far from the reference
    identity_every: int = 5  # at least one checked frame in every 5, at random positions
    # The face may move this much between checked frames (share of its width), and its
    # size change by this factor: a cut to another face or place breaks the track.
    track_max_shift: float = 0.6
    track_max_scale: float = 1.35
    # The whole frame is searched (and faces counted) on every n-th frame; in between the
    # face is tracked near its last place. Tracking is cheaper, but its boxes sit less
    # well on a moving face and the landmarks, so blinks and turns, get noisier: 1.
    full_search_every: int = 1


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
    # Eye midpoint, nose tip and chin across the face, from the middle of the jaw
    # outline's ends, in jaw widths: a turning head moves them by their depth (see
    # liveness.parallax_holds).
    eye_offset: float = 0.0
    nose_offset: float = 0.0
    chin_offset: float = 0.0
    centre: tuple[float, float] = (0.0, 0.0)  # the face's middle in the frame, pixels
    width: float = 0.0  # the jaw outline's width in the frame, pixels
    phash: int = 0  # 63-bit perceptual hash of the aligned face (see replay)
    mirror_hash: int = 0  # the same of the face flipped: a mirrored replay matches it
    thumb: bytes = b""  # 32x32 grey face, for the still-photo check
    box: tuple[int, int, int, int] | None = None


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
               ) -> tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int, float]]:
    """The face with a margin, scaled so the face is FACE_WORK_WIDTH wide; the box in it;
    and (x0, y0, scale) to map crop coordinates back to the frame."""
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
    return np.asarray(crop), scaled, (x0, y0, scale)


Box = tuple[int, int, int, int]  # top, right, bottom, left
TRACK_WIDTH = 100  # the face's width in the small search window around its last place


HOG_FACE_PX = 80  # the smallest face HOG finds without upsampling


def find_faces(image: np.ndarray, expected_width: float | None = None) -> list[Box]:
    """Every face in the frame. Upsampling costs about 4x per step, so start from what the
    face's expected width needs (0 for a face of 80 px or more) and go further only when
    nothing is found."""
    import face_recognition

    first = 0 if expected_width is None else _steps_for(expected_width)
    for upsample in range(first, 3):
        found = face_recognition.face_locations(image, number_of_times_to_upsample=upsample)
        if found:
            return [(int(t), int(r), int(b), int(le)) for t, r, b, le in found]
    return []


def _steps_for(width: float) -> int:
    """Upsampling steps for a face of ``width`` pixels to reach HOG's size (2x a step)."""
    steps = 0
    while width * 2**steps < HOG_FACE_PX * 0.9 and steps < 2:
        steps += 1
    return steps


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
    crop, crop_box, (x0, y0, scale) = _face_crop(image, box)
    marks = face_recognition.face_landmarks(crop, [crop_box])
    grey = np.asarray(Image.fromarray(crop).convert("L"))
    top, right, bottom, left = crop_box
    face_grey = grey[max(0, top):bottom, max(0, left):right]
    if not marks or face_grey.size == 0:
        return FrameMeasure(index=index, faces=0), None
    m = marks[0]
    thumb = Image.fromarray(face_grey).resize((32, 32), Image.Resampling.BILINEAR).tobytes()
    jaw = np.asarray(m["chin"], dtype=float)
    middle, jaw_width = (jaw[0] + jaw[16]) / 2, max(_distance(jaw[0], jaw[16]), 1.0)
    eyes = (np.mean(m["left_eye"], axis=0) + np.mean(m["right_eye"], axis=0)) / 2
    nose = np.asarray(m["nose_bridge"][-1], dtype=float)
    centre = np.mean([p for points in m.values() for p in points], axis=0)
    hashes = aligned_hashes(grey, m)
    measure = FrameMeasure(
        index=index, faces=1, face_px=box[1] - box[3], box=box,
        brightness=float(face_grey.mean()), sharpness=laplacian_variance(face_grey),
        ear=(eye_aspect_ratio(m["left_eye"]) + eye_aspect_ratio(m["right_eye"])) / 2,
        mar=mouth_aspect_ratio(m["top_lip"], m["bottom_lip"]),
        yaw=yaw_ratio(m["chin"], m["nose_tip"]),
        eye_offset=float(eyes[0] - middle[0]) / jaw_width,
        nose_offset=float(nose[0] - middle[0]) / jaw_width,
        chin_offset=float(jaw[8][0] - middle[0]) / jaw_width,
        centre=(x0 + float(centre[0]) / scale, y0 + float(centre[1]) / scale),
        width=jaw_width / scale, phash=hashes[0], mirror_hash=hashes[1], thumb=thumb,
    )
    return measure, (crop, crop_box)


# Where the eyes and the mouth go in the 32x32 face the perceptual hash is taken of.
_ALIGNED = np.array([[9.0, 11.0], [23.0, 11.0], [16.0, 25.0]])
_DCT = np.cos(np.pi * (2 * np.arange(32)[None, :] + 1) * np.arange(32)[:, None] / 64)


def aligned_hashes(grey: np.ndarray, marks: dict[str, list[tuple[int, int]]]
                   ) -> tuple[int, int]:
    """63-bit perceptual hashes of the face aligned on its eyes and mouth, as it is and
    flipped: the signs of the low DCT frequencies against their median. Re-encoding,
    metadata, brightness and small crops leave them within a few bits; another moment
    of the same face does not."""
    anchors = np.array([np.mean(marks["left_eye"], axis=0), np.mean(marks["right_eye"], axis=0),
                        np.mean(marks["top_lip"] + marks["bottom_lip"], axis=0)])
    # The affine map from the aligned square to the crop (PIL samples backwards).
    to_crop = np.linalg.solve(np.c_[_ALIGNED, np.ones(3)], anchors).T
    face = Image.fromarray(grey).transform((32, 32), Image.Transform.AFFINE,
                                           tuple(to_crop.flatten()), Image.Resampling.BILINEAR)
    pixels = np.asarray(face, dtype=float)
    return _dct_hash(pixels), _dct_hash(pixels[:, ::-1])


def _dct_hash(pixels: np.ndarray) -> int:
    low = (_DCT @ pixels @ _DCT.T)[:8, :8].flatten()[1:]
    bits = low > np.median(low)
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def encode(crop: np.ndarray, crop_box: tuple) -> np.ndarray:
    import face_recognition

    return face_recognition.face_encodings(crop, [crop_box])[0]


def encode_photo(data: bytes, config: FaceCheckConfig, *, min_face_px: int = 80,
                 max_pixels: int | None = -1) -> tuple[str | None, list[float] | None]:
    """A reference photo: exactly one face, at least ``min_face_px`` wide, at most
    ``max_pixels`` (-1: eight times a live frame's limit; None: any size). Returns
    (problem, encoding)."""
    import face_recognition

    try:
        opened = Image.open(io.BytesIO(data))
        width, height = opened.size
        limit = config.max_pixels * 8 if max_pixels == -1 else max_pixels
        if limit is not None and width * height > limit:
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
    if right - left < min_face_px:
        return "FACE_TOO_SMALL", None
    encoding = face_recognition.face_encodings(full, [(top, right, bottom, left)])[0]
    return None, [float(x) for x in encoding]


def encode_like_live(data: bytes, config: FaceCheckConfig) -> np.ndarray | None:
    """An image encoded exactly as a live frame is (a phone sends frames of at most 640
    pixels a side: a larger photo is scaled down first, never refused); None without
    exactly one face."""
    try:
        image = decode_frame(_as_live_frame(data), config.max_pixels)
    except BadFrame:
        return None
    measure, crop = measure_frame(0, image)
    if measure.faces != 1 or crop is None:
        return None
    return encode(*crop)


def _as_live_frame(data: bytes) -> bytes:
    """The photo as the phone would have sent it: upright, at most MAX_LONG_SIDE a side."""
    try:
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return data  # decode_frame names the problem
    image.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()
