"""Safe decoding of frames and photos: EXIF orientation, size limits, non-images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pension_cert.face import BadFrame, FaceCheckConfig, decode_frame, encode_photo

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _jpeg(image: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **kw)
    return buffer.getvalue()


def test_exif_orientation_is_applied():
    upright = Image.open(SHARED / "faces" / "people" / "obama" / "obama.jpg").convert("RGB")
    upright.thumbnail((600, 600))
    # A phone that stores the sensor's rotation in EXIF (orientation 6: rotate 90 CW to view).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_frame(_jpeg(stored, exif=exif), 2_000_000)
    assert decoded.shape[:2] == (upright.height, upright.width)
    problem, encoding = encode_photo(_jpeg(stored, exif=exif), FaceCheckConfig())
    assert problem is None and encoding is not None


def test_huge_pixel_counts_are_refused_before_decoding():
    bomb = _jpeg(Image.new("RGB", (3000, 3000), "white"))
    assert len(bomb) < 200_000  # small on the wire...
    with pytest.raises(BadFrame):
        decode_frame(bomb, 2_000_000)  # ...but 9 megapixels


@pytest.mark.parametrize("data", [b"not an image", b"\xff\xd8\xff" + b"\x00" * 100])
def test_garbage_is_a_bad_frame(data):
    with pytest.raises(BadFrame):
        decode_frame(data, 2_000_000)


def test_png_frames_are_refused_and_large_frames_scaled_down():
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200)).save(buffer, "PNG")
    with pytest.raises(BadFrame):
        decode_frame(buffer.getvalue(), 2_000_000)
    big = decode_frame(_jpeg(Image.new("RGB", (1280, 960), "grey")), 2_000_000)
    assert max(big.shape[:2]) == 640
    assert np.asarray(big).dtype == np.uint8
