"""Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``, never a browser
Playwright downloads itself) against the real application served by the test session, on
the embedded database. Pages open at 1366x768 in Chinese, Beijing time; screenshots go to
var/artifacts/console/."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "console"
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}

# Counts the clicks a person makes (trusted events only), so a test can say how many an
# agent needs. Injected by the browser's own debugging protocol, not by the page.
COUNT_CLICKS = """
window.__clicks = [];
document.addEventListener("click", (event) => {
  if (event.isTrusted) window.__clicks.push(
    (event.target.id || event.target.textContent || event.target.tagName).trim().slice(0, 30));
}, true);
"""


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's chromium "
                    "and fonts-noto-cjk")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN",
                                        timezone_id="Asia/Shanghai", accept_downloads=True)
    await context.add_init_script(COUNT_CLICKS)
    opened = await context.new_page()
    opened.set_default_timeout(15_000)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", lambda message: problems.append(message.text)
              if message.type == "error" and "401" not in message.text else None)
    yield opened
    await context.close()
    assert problems == [], problems  # no script errors, no CSP violations


async def shot(page: Page, name: str) -> Path:
    path = ARTIFACTS / name
    await page.screenshot(path=str(path))
    return path
