"""Face-check throughput, event-loop responsiveness under face load, and 1:N search time.

Prints, all measured in this run on this machine:
1. full liveness+identity checks per second through the face pool, next to the raw
   face_recognition work (detect, landmarks, encode) on the same frames: the overhead ratio;
2. the p99 latency of /healthz while face checks saturate the pool, next to its p99
   with the pool idle: the ratio;
3. one 1:N search over 1,000,000 float32 templates (the fraud check's matrix).

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
from tornado.httpclient import AsyncHTTPClient
from tornado.web import Application, RequestHandler

from devdb.launcher import free_port
from pension_cert.analysis import Identity, analyse
from pension_cert.face import Action, FaceCheckConfig, encode_like_live
from pension_cert.pool import FacePool

CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "carphone_pristine.mp4"


def clip_frames() -> list[bytes]:
    frames = []
    with av.open(str(CLIP)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 2 == 0 and i < 116:
                buffer = io.BytesIO()
                frame.to_image().save(buffer, "JPEG", quality=85)
                frames.append(buffer.getvalue())
    return frames


def raw_work(frames: list[bytes]) -> None:
    """What face_recognition itself must do for one check: find, mark and encode."""
    import face_recognition
    from PIL import Image

    for index, data in enumerate(frames):
        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        boxes = face_recognition.face_locations(image, number_of_times_to_upsample=2)
        face_recognition.face_landmarks(image, boxes)
        if index % 10 == 0:
            face_recognition.face_encodings(image, boxes)


class Ping(RequestHandler):
    def get(self) -> None:
        self.write("ok")


async def p99_of_pings(port: int, seconds: float) -> tuple[float, int]:
    client = AsyncHTTPClient(force_instance=True)
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and len(latencies) < 5000:
        start = time.perf_counter()
        await client.fetch(f"http://127.0.0.1:{port}/healthz")
        latencies.append(time.perf_counter() - start)
        await asyncio.sleep(0.005)
    client.close()
    return statistics.quantiles(latencies, n=100)[98], len(latencies)


async def run(checks: int) -> None:
    frames = clip_frames()
    config = FaceCheckConfig()
    actions = [Action.TURN_RIGHT, Action.BLINK]  # what frames 0-115 show, in this order
    reference = encode_like_live(frames[0], config)
    assert reference is not None
    identity = Identity(tuple(float(x) for x in reference), 0.5, sample_seed=7)
    pool = FacePool()
    await pool.run(analyse, frames[:16], actions, config, identity)  # warm the worker up

    start = time.perf_counter()
    for _ in range(checks):
        await pool.run(analyse, frames, actions, config, identity)
    pooled = (time.perf_counter() - start) / checks
    start = time.perf_counter()
    for _ in range(checks):
        raw_work(frames)
    raw = (time.perf_counter() - start) / checks
    print(f"frames per check: {len(frames)} (176x144, 15 fps); pool workers: {pool.workers}")
    print(f"full check via pool   {1 / pooled:6.2f} checks/s ({pooled * 1000:7.0f} ms each)")
    print(f"raw face_recognition  {1 / raw:6.2f} checks/s ({raw * 1000:7.0f} ms each)")
    print(f"overhead ratio (full / raw): {pooled / raw:5.2f}x")

    port = free_port()
    server = Application([(r"/healthz", Ping)]).listen(port, address="127.0.0.1")
    idle_p99, idle_n = await p99_of_pings(port, 3.0)
    load = [asyncio.ensure_future(pool.run(analyse, frames, actions, config, identity))
            for _ in range(pool.capacity)]
    busy_p99, busy_n = await p99_of_pings(port, 3.0)
    await asyncio.gather(*load)
    server.stop()
    print(f"/healthz p99 idle {idle_p99 * 1000:6.2f} ms ({idle_n} requests), "
          f"pool saturated {busy_p99 * 1000:6.2f} ms ({busy_n} requests): "
          f"ratio {busy_p99 / idle_p99:5.2f}x")
    pool.close()

    rng = np.random.default_rng(12333)
    matrix = rng.standard_normal((1_000_000, 128), dtype=np.float32)
    live = rng.standard_normal(128, dtype=np.float32)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        distances = np.linalg.norm(matrix - live, axis=1)
        int(np.argmin(distances))
        timings.append(time.perf_counter() - start)
    print(f"1:N search over 1,000,000 templates: {statistics.median(timings) * 1000:.0f} ms "
          f"(matrix {matrix.nbytes / 2**20:.0f} MiB float32)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=4)
    asyncio.run(run(parser.parse_args().checks))


if __name__ == "__main__":
    main()
