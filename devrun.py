"""Where the database is: the configured one, or in dev the embedded devdb, which a
command uses if the server runs it and which the server restarts if it dies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from common.settings import Settings
from devdb.launcher import DevDB, DevDBError, FolderInUse, running_uri

log = logging.getLogger("app")


@contextlib.contextmanager
def database_uri(settings: Settings) -> Iterator[tuple[str, DevDB | None]]:
    """The configured database; in dev, the devdb already serving ``DATA_DIR`` (so a
    command never starts a second server on the running server's data), else one
    started here, which is also returned so the server can look after it."""
    if settings.mongodb_uri is not None:
        yield settings.mongodb_uri, None
        return
    folder = Path(settings.data_dir) / "devdb"
    running = running_uri(folder)
    if running is not None:
        log.info("using the running embedded devdb", extra={"uri": running})
        yield running, None
        return
    devdb = DevDB(folder)
    log.info("starting embedded devdb", extra={"data_dir": str(devdb.data_dir)})
    try:
        uri = devdb.start()
    except FolderInUse:  # another command started it a moment ago: use that one
        yield _wait_for_running(folder), None
        return
    try:
        yield uri, devdb
    finally:
        devdb.stop()


def _wait_for_running(folder: Path, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        uri = running_uri(folder)
        if uri is not None:
            return uri
        time.sleep(0.1)
    raise SystemExit(f"the embedded database in {folder} is locked but not serving")


async def supervise_devdb(devdb: DevDB, stop: asyncio.Event) -> None:
    """In dev, restart an embedded database that died, with backoff, on the same port
    and data: the API's client reconnects by itself."""
    delay = 1.0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set() or devdb.running:
            continue
        log.error("embedded database stopped; restarting", extra={"after_seconds": delay})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        try:
            await asyncio.to_thread(devdb.start)
            log.warning("embedded database restarted", extra={"uri": devdb.uri})
            delay = 1.0
        except DevDBError:
            log.exception("embedded database did not restart; trying again")
            delay = min(delay * 2, 30.0)


def start_standins(settings: Settings) -> list[str]:
    """Serve the WeChat and Aliyun stand-ins in this process, where the settings point."""
    from standins import aliyun_sms, wechat

    wechat_url = urlsplit(settings.wechat_base_url)
    aliyun_url = urlsplit(settings.aliyun_sms_endpoint)
    wechat.make_app({settings.wechat_appid: settings.wechat_secret}).listen(
        wechat_url.port or 80, address=wechat_url.hostname or "127.0.0.1")
    aliyun_sms.make_app({settings.aliyun_access_key_id: settings.aliyun_access_key_secret},
                        frozenset({settings.aliyun_sms_sign_name})).listen(
        aliyun_url.port or 80, address=aliyun_url.hostname or "127.0.0.1")
    return [settings.wechat_base_url, f"{settings.aliyun_sms_endpoint}/_dev"]
