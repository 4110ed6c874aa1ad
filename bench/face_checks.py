"""Face-check cost against the minimal face_recognition work on the same frames, and the
service's own responsiveness while face checks fill the pool.

Prints, all measured in this run on this machine:
1. one full check (liveness and identity) through the face pool, next to the minimal
   face_recognition work the same decisions need, in the same kind of pool worker: each
   frame's face found at the smallest upsampling that finds it, landmarks on every frame,
   and as many encodings as the identity rule asks for (every action frame and one in
   five, plus the best frame). The old one-encoding baseline is printed too;
2. the p99 of the *service's* /healthz while checks saturate its pool, next to its p99
   with the pool idle.

    python -m bench.face_checks [--checks 4]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from bench.harness import devdb, load_average, service, throughput
from pension_cert.analysis import Identity, analyse
from pension_cert.face import Action, FaceCheckConfig, encode_like_live
from pension_cert.pool import FacePool

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "carphone_pristine.mp4"
ACTIONS = [Action.TURN_RIGHT, Action.BLINK]  # what frames 0-79 show, in this order


def clip_frames(scale: int = 2) -> list[bytes]:
    """Frames 0-79 at 15 fps (40 frames), scaled to 352x288 as a phone would send them."""
    frames = []
    with av.open(str(CLIP)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 2 == 0 and i < 80:
                image = frame.to_image()
                image = image.resize((image.width * scale, image.height * scale),
                                     Image.Resampling.BICUBIC)
                buffer = io.BytesIO()
                image.save(buffer, "JPEG", quality=85)
                frames.append(buffer.getvalue())
    return frames


def minimal_work(frames: list[bytes], encodings: int) -> int:
    """What face_recognition itself must do for the same decisions (run in the pool)."""
    import face_recognition

    done = 0
    for index, data in enumerate(frames):
        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        boxes = []
        for upsample in range(3):
            boxes = face_recognition.face_locations(image, number_of_times_to_upsample=upsample)
            if boxes:
                break
        face_recognition.face_landmarks(image, boxes)
        if boxes and done < encodings and index % max(1, len(frames) // encodings) == 0:
            face_recognition.face_encodings(image, boxes)
            done += 1
    return done


async def median_seconds(pool: FacePool, checks: int, *call: object) -> float:
    runs = []
    for _ in range(checks):
        start = time.perf_counter()
        await pool.run(*call)  # type: ignore[arg-type]
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


async def run(checks: int) -> None:
    frames = clip_frames()
    config = FaceCheckConfig()
    reference = encode_like_live(frames[0], config)
    assert reference is not None
    identity = Identity(tuple(float(x) for x in reference), 0.5, sample_seed=7)
    pool = FacePool(workers=1)
    warm = await pool.run(analyse, frames, ACTIONS, config, identity)
    assert warm.reason is None, warm.reason  # the genuine clip passes
    encodings = int(warm.detail["encodings"])
    await pool.run(minimal_work, frames[:4], 1)
    check = await median_seconds(pool, checks, analyse, frames, ACTIONS, config, identity)
    minimal = await median_seconds(pool, checks, minimal_work, frames, encodings)
    one = await median_seconds(pool, checks, minimal_work, frames, 1)
    pool.close()
    print(f"frames per check: {len(frames)} (352x288, 15 fps); {load_average()}")
    print(f"full check through the pool     {check * 1000:7.0f} ms")
    print(f"minimal work, {encodings:2d} encodings      {minimal * 1000:7.0f} ms   "
          f"ratio {check / minimal:5.2f}x  (the rule's encodings; goal <= 1.15x)")
    print(f"minimal work, 1 encoding         {one * 1000:7.0f} ms   ratio {check / one:5.2f}x")
    await healthz_under_load(frames, config, identity)


async def healthz_under_load(frames: list[bytes], config: FaceCheckConfig,
                             identity: Identity) -> None:
    with devdb() as database:
        async with service(database.uri, "bench_face") as (deps, base):
            idle_rate, idle_p99 = await throughput(f"{base}/healthz", {}, 3.0, 4)
            pool = deps.cert.pool
            load = [asyncio.ensure_future(pool.run(analyse, frames, ACTIONS, config, identity))
                    for _ in range(pool.capacity)]
            busy_rate, busy_p99 = await throughput(f"{base}/healthz", {}, 3.0, 4)
            await asyncio.gather(*load)
    print(f"service /healthz p99 idle {idle_p99 * 1000:6.2f} ms ({idle_rate:.0f}/s), "
          f"pool saturated {busy_p99 * 1000:6.2f} ms ({busy_rate:.0f}/s): "
          f"ratio {busy_p99 / idle_p99:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=4)
    asyncio.run(run(parser.parse_args().checks))


if __name__ == "__main__":
    main()
