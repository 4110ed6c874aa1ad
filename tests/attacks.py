"""Attack clips built in the test setup from the shared photos and video (nothing large
is committed): replays with a comment or re-encoded, a splice of another man's actions
into a victim's photo, and one portrait animated by 2-D warps, flat or in perspective.

The warps move pixels the way an attacker with an afternoon and an image library would:
the eyes squeezed shut, the mouth stretched open, and the inner face (eyes, nose, mouth)
slid across the jaw line, or the whole picture turned like a card, to fake a head turn.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

Frames = list[Image.Image]


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def with_comment(data: bytes, text: bytes = b"re-sent") -> bytes:
    """The same JPEG with a comment segment after its start marker: every pixel identical."""
    segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    return data[:2] + segment + data[2:]


def landmarks(image: Image.Image) -> dict[str, np.ndarray]:
    """The 68 landmarks of the one face in ``image`` (upsampled, as the service does for
    small frames), grouped as face_recognition names them."""
    import face_recognition

    pixels = np.asarray(image.convert("RGB"))
    found = face_recognition.face_landmarks(pixels, face_recognition.face_locations(
        pixels, number_of_times_to_upsample=2))
    assert len(found) == 1, "the portrait needs exactly one face"
    return {name: np.asarray(points, dtype=float) for name, points in found[0].items()}


def warp(image: Image.Image, displacement: Callable[[np.ndarray, np.ndarray],
                                                     tuple[np.ndarray, np.ndarray]]
         ) -> Image.Image:
    """Each output pixel (x, y) takes the input at (x, y) + displacement(x, y), bilinear."""
    pixels = np.asarray(image.convert("RGB"), dtype=float)
    height, width = pixels.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    dx, dy = displacement(xs, ys)
    sx, sy = np.clip(xs + dx, 0, width - 1.001), np.clip(ys + dy, 0, height - 1.001)
    x0, y0 = sx.astype(int), sy.astype(int)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    top = pixels[y0, x0] * (1 - fx) + pixels[y0, x0 + 1] * fx
    bottom = pixels[y0 + 1, x0] * (1 - fx) + pixels[y0 + 1, x0 + 1] * fx
    return Image.fromarray((top * (1 - fy) + bottom * fy).astype(np.uint8))


def _bump(xs: np.ndarray, ys: np.ndarray, centre: np.ndarray, rx: float, ry: float
          ) -> np.ndarray:
    return np.exp(-(((xs - centre[0]) / rx) ** 2 + ((ys - centre[1]) / ry) ** 2))


def squeeze_eyes(image: Image.Image, marks: dict[str, np.ndarray], amount: float
                 ) -> Image.Image:
    """Close the eyes by pulling the lids towards each eye's middle line."""
    def displacement(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dy = np.zeros_like(ys)
        for eye in (marks["left_eye"], marks["right_eye"]):
            centre = eye.mean(axis=0)
            width = np.ptp(eye[:, 0])
            dy += (ys - centre[1]) * amount * _bump(xs, ys, centre, width * 0.8, width * 0.5)
        return np.zeros_like(xs), dy
    return warp(image, displacement)


def stretch_mouth(image: Image.Image, marks: dict[str, np.ndarray], amount: float
                  ) -> Image.Image:
    """Open the mouth by stretching the lips apart from the mouth's middle line."""
    lips = np.vstack([marks["top_lip"], marks["bottom_lip"]])
    centre, width = lips.mean(axis=0), np.ptp(lips[:, 0])

    def displacement(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros_like(xs), -(ys - centre[1]) * amount * _bump(xs, ys, centre, width * 0.7,
                                                                     width * 0.6)
    return warp(image, displacement)


def slide_inner_face(image: Image.Image, marks: dict[str, np.ndarray], shift: float
                     ) -> Image.Image:
    """Fake a turn: slide the inner face (eyes, nose, mouth) sideways as one piece, by
    ``shift`` jaw widths, while the jaw outline stays where it was; the cheeks between
    stretch and squeeze."""
    jaw = marks["chin"]
    width = float(np.ptp(jaw[:, 0]))
    inner = np.vstack([marks["left_eye"], marks["right_eye"], marks["nose_tip"],
                       marks["top_lip"], marks["bottom_lip"]])
    centre, half = inner.mean(axis=0), np.ptp(inner, axis=0) / 2

    def displacement(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reach = np.hypot((xs - centre[0]) / (half[0] * 1.15), (ys - centre[1]) / (half[1] * 1.3))
        plateau = np.clip(2.2 - reach, 0, 1)  # flat over the inner face, then falling off
        return -shift * width * plateau, np.zeros_like(ys)
    return warp(image, displacement)


def turn_like_a_card(image: Image.Image, degrees: float) -> Image.Image:
    """The whole picture rotated about its vertical axis, in perspective: a printed photo
    or a phone screen turned in front of the camera."""
    width, height = image.size
    focal = width * 1.2
    theta = np.radians(degrees)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    rotation = np.array([[np.cos(theta), 0, np.sin(theta)], [0, 1, 0],
                         [-np.sin(theta), 0, np.cos(theta)]])
    forward = camera @ rotation @ np.linalg.inv(camera)
    backward = np.linalg.inv(forward)
    backward /= backward[2, 2]
    return image.transform(image.size, Image.Transform.PERSPECTIVE,
                           tuple(backward.flatten()[:8]), Image.Resampling.BICUBIC)


def _jitter(image: Image.Image, step: int) -> Image.Image:
    """A hand-held picture: a pixel or two of drift, so it is not a still photo."""
    dx, dy = ((step * 7) % 5) - 2, ((step * 3) % 5) - 2
    return image.transform(image.size, Image.Transform.AFFINE, (1, 0, dx, 0, 1, dy),
                           Image.Resampling.BILINEAR)


def animated_portrait(still: Image.Image, actions: Sequence[str], *, turn: str = "slide",
                      frames_per_action: int = 12) -> Frames:
    """One portrait animated through ``actions`` (neutral, the action, neutral). A turn is
    faked by sliding the inner face (``slide``) or turning the picture (``card``)."""
    marks = landmarks(still)
    sequence: Frames = []
    ramp = [0, 0.35, 0.7, 1.0, 1.0, 1.0, 1.0, 0.7, 0.35, 0, 0, 0][:frames_per_action]
    for action in actions:
        for level in ramp:
            if action == "blink":
                frame = squeeze_eyes(still, marks, 3.0 * level)
            elif action == "open_mouth":
                frame = stretch_mouth(still, marks, 1.5 * level)
            else:
                side = 1.0 if action == "turn_left" else -1.0
                frame = (slide_inner_face(still, marks, side * 0.3 * level) if turn == "slide"
                         else turn_like_a_card(still, -side * 22 * level))
            sequence.append(_jitter(frame, len(sequence)))
    return [_jitter(still, i) for i in range(4)] + sequence


def spliced(victim: Image.Image, other: Frames, total: int = 40) -> Frames:
    """The victim's photo in most frames and another person's actions (``other``, put in
    the middle) in the rest."""
    size = other[0].size
    still = victim.convert("RGB").resize(size)
    before = (total - len(other)) // 2
    return ([_jitter(still, i) for i in range(before)] + list(other)
            + [_jitter(still, i) for i in range(total - before - len(other))])
