"""The H5 face check (/h5/certify) in Debian's Chromium, driven by Playwright for Python,
with a fake camera playing a y4m clip made here with ffmpeg from the shared video.

The service's challenge always has a head turn (docs/face.md), so the clip is the part
of carphone that shows one: frames 0-125 (a turn to the right, then a blink near 42),
and the test fixes the pair to [turn_right, blink] (FACE_FIXED_ACTIONS, dev/test only).
A second run plays one still frame: the page must show the still-photo refusal.
Screenshots of every step go to var/artifacts/h5/.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.journeys import bearer, photo_of, retiree

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "carphone_pristine.mp4"
ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "artifacts" / "h5"
FRAMES = 126  # 4.2 s at 30 fps: the page films 4 s from the moment the camera opens

pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(FFMPEG).exists()),
                                reason="make test installs chromium and ffmpeg")


def y4m(out: Path, *, still: bool) -> Path:
    """The clip (or its first frame, held) scaled to 640x480: the face then meets the size
    rule at the resolution the API asks for."""
    pick = "select='eq(n\\,0)',loop=loop=-1:size=1:start=0" if still else (
        f"select='lt(n\\,{FRAMES})'")
    subprocess.run([FFMPEG, "-loglevel", "error", "-y", "-i", str(CLIP), "-vf",
                    f"{pick},scale=640:480,setsar=1", "-frames:v", str(FRAMES),
                    "-r", "30", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


async def certify_in_browser(api, token: str, clip: Path, name: str,
                             shown: list[str] | None = None) -> tuple[str, str]:
    """The journey in the browser; with ``shown``, the person first reads the face-check
    notice (its paragraphs are put in ``shown``) and agrees."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"])
        page = await browser.new_page(viewport={"width": 412, "height": 915})
        try:
            await page.goto(f"{api.base_url}/h5/certify#token={token}")
            if shown is not None:
                await page.locator("#notice-text p").first.wait_for()
                shown.extend(await page.locator("#notice-text p").all_inner_texts())
                await page.screenshot(path=str(ARTIFACTS / f"{name}-0-notice.png"))
                await page.get_by_role("button", name="我同意，开始认证").click()
            await page.get_by_role("button", name="开始").wait_for()
            assert "token" not in page.url  # the fragment leaves the address bar
            await page.screenshot(path=str(ARTIFACTS / f"{name}-1-ready.png"))
            await page.get_by_role("button", name="开始").click()
            await page.locator("#action-text").filter(has_text="请").wait_for()
            await page.screenshot(path=str(ARTIFACTS / f"{name}-2-action.png"))
            # (no wait_for_function: the page's policy allows no eval, as it should)
            await page.locator("#step-result").wait_for(state="visible", timeout=90_000)
            await page.screenshot(path=str(ARTIFACTS / f"{name}-3-result.png"))
            return (await page.locator("#result-title").inner_text(),
                    await page.locator("#result-text").inner_text())
        finally:
            await browser.close()


async def test_a_retiree_certifies_from_the_camera_and_a_still_photo_is_refused(
        api, deps, standins, clock, clip, fresh_face_session, tmp_path):
    deps.cert.config = dataclasses.replace(deps.cert.config,
                                           fixed_actions=("turn_right", "blink"))
    login, person_id, token = await retiree(api, deps, standins, clock,
                                            photo=photo_of(clip[0]), consent=False)
    started = time.perf_counter()
    shown: list[str] = []
    title, text = await certify_in_browser(api, login["access_token"],
                                           y4m(tmp_path / "clip.y4m", still=False), "live",
                                           shown=shown)
    took = time.perf_counter() - started
    assert title == "认证成功", text
    # The person read the server's notice, and the consent names the version shown.
    notice = (await api.get("/v1/pension/consent-notice")).json()
    assert shown == notice["paragraphs"]
    consent = (await api.get(f"/v1/pension/people/{person_id}/consent", headers=token)).json()
    assert (consent["status"], consent["notice_version"]) == ("given", notice["version"])
    assert "有效期至" in text
    status = (await api.get(f"/v1/pension/people/{person_id}/status", headers=token)).json()
    assert status["history"][-1]["channel"] == "face"
    (ARTIFACTS / "timing.txt").write_text(f"live journey {took:.1f} s\n", encoding="utf-8")

    other, other_id, other_token = await retiree(api, deps, standins, clock,
                                                 photo=photo_of(clip[0]))
    title, text = await certify_in_browser(api, other["access_token"],
                                           y4m(tmp_path / "still.y4m", still=True), "still")
    assert title == "没有通过"
    assert "不要使用照片" in text  # the still-photo reason, in the person's words
    status = (await api.get(f"/v1/pension/people/{other_id}/status",
                            headers=bearer(other["access_token"]))).json()
    assert not any(h.get("channel") == "face" and h.get("result") == "certified"
                   for h in status["history"])
    assert other_token
