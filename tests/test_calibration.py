"""The calibration command and the pairs builder, on the shared photos of five Johns."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from pension_cert.calibrate import calibrate, equal_error_rate, threshold_at_far
from pension_cert.pairs import pairs
from tests.conftest import ROOT

JOHNS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "johns"


def test_every_same_and_every_different_pair():
    rows = pairs(JOHNS)
    assert len(rows) == 55 * 54 // 2
    assert sum(1 for r in rows if r[2] == "Yes") == 5 * (11 * 10 // 2)
    assert all((r[0].split("/")[0] == r[1].split("/")[0]) == (r[2] == "Yes") for r in rows)


def test_threshold_and_rates_on_known_distances():
    genuine = np.array([0.2, 0.3, 0.35, 0.5, 0.7])
    impostor = np.array([0.45, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5])
    assert threshold_at_far(impostor, 0.0) < 0.45
    assert 0.6 > threshold_at_far(impostor, 0.1) >= 0.45  # one impostor may pass
    result = calibrate(genuine, impostor, skipped=1, target_far=0.0)
    assert result.tar_at_far["0"] == 0.6  # 0.2, 0.3, 0.35 under 0.45
    assert 0 < equal_error_rate(genuine, impostor) < 0.3
    assert json.loads(result.as_json())["skipped"] == 1


async def test_the_command_prints_its_json_on_the_last_line(tmp_path):
    subset = tmp_path / "johns"
    for person in sorted(JOHNS.iterdir())[:3]:
        (subset / person.name).mkdir(parents=True)
        for photo in sorted(person.iterdir())[:3]:
            shutil.copy(photo, subset / person.name / photo.name)
    pairs_file = tmp_path / "pairs.csv"

    async def run(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return out.decode()

    await run("-m", "pension_cert.pairs", str(subset), "--out", str(pairs_file))
    out = await run("-m", "pension_cert.calibrate", str(pairs_file), "--images", str(subset))
    result = json.loads(out.strip().splitlines()[-1])
    assert result["pairs"] + result["skipped"] == 36
    assert set(result["tar_at_far"]) == {"0", "0.001", "0.01"}
    assert 0.3 < result["threshold"] < 1.0


PEOPLE = JOHNS.parent / "people"
MISC = JOHNS.parent / "misc"


async def _run(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_everyday_photos_of_any_size_are_scaled_not_skipped(tmp_path):
    """Photos over 2 megapixels (a 1080p one among them) are encoded as enrolment and live
    frames encode them, not skipped: at most 5 % of pairs may be."""
    photos = tmp_path / "people"
    shutil.copytree(PEOPLE, photos)
    for name in ("obama-1080p.jpg", "obama-240p.jpg"):
        shutil.copy(MISC / name, photos / "obama" / name)
    pairs_file = tmp_path / "pairs.csv"
    await _run("-m", "pension_cert.pairs", str(photos), "--out", str(pairs_file))
    result = json.loads((await _run("-m", "pension_cert.calibrate", str(pairs_file),
                                    "--images", str(photos))).strip().splitlines()[-1])
    total = result["pairs"] + result["skipped"]
    count = sum(1 for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    assert total == count * (count - 1) // 2
    assert result["skipped"] <= 0.05 * total, result


async def test_the_liveness_calibration_prints_thresholds_between_genuine_and_rest():
    clip = JOHNS.parents[1] / "video" / "carphone_pristine.mp4"
    out = await _run("-m", "pension_cert.calibrate", "liveness", str(clip))
    result = json.loads(out.strip().splitlines()[-1])
    evidence = result["evidence"]
    # A blink dips below the threshold; an open eye never does.
    assert evidence["weakest_blink_dip"] < result["FACE_BLINK_RATIO"] < evidence[
        "lowest_open_eye"]
    # An open mouth rises above it; a closed or talking one never does.
    assert evidence["widest_closed_mouth"] < result["FACE_MOUTH_OPEN"] < evidence[
        "least_open_mouth"]
    assert 0 < result["FACE_TURN_YAW"] < evidence["smallest_turn"]
    assert set(result["current"]) == {"FACE_BLINK_RATIO", "FACE_MOUTH_OPEN", "FACE_TURN_YAW"}
