"""Build (once) and run the embedded FerretDB server.

The binary is cached under ``var/bin`` by a hash of the Go sources, so a second
run starts at once and a change to the sources rebuilds it. ``make run`` and
the test suite both start servers through this module.

One data folder has at most one server: the server locks ``DATA/devdb.lock`` and
publishes its address in ``DATA/uri`` (``running_uri`` reads it), so the command-line
tools use the running server rather than start a second one. A server started here
stops when the process that started it dies, even by ``kill -9``.

    python -m devdb.launcher build
    python -m devdb.launcher serve --listen 127.0.0.1:27017 --data var/devdb
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = SOURCE_DIR.parent
BIN_DIR = PROJECT_ROOT / "var" / "bin"
SOURCES = ("main.go", "go.mod", "go.sum")


class DevDBError(RuntimeError):
    pass


class FolderInUse(DevDBError):
    """Another devdb serves this data folder."""


EXIT_FOLDER_IN_USE = 3


def running_uri(data_dir: Path | str) -> str | None:
    """The URI of the devdb serving ``data_dir`` right now, or None if none is.

    The server holds ``devdb.lock`` while it runs; a lock we can take ourselves means
    nobody holds it, whatever an old ``uri`` file says.
    """
    folder = Path(data_dir).resolve()
    lock_path, uri_path = folder / "devdb.lock", folder / "uri"
    if not lock_path.exists() or not uri_path.exists():
        return None
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return uri_path.read_text().strip() or None
        fcntl.flock(lock, fcntl.LOCK_UN)
    return None


def source_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((SOURCE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def binary_path() -> Path:
    return BIN_DIR / f"devdb-{source_hash()}"


def ensure_built(*, quiet: bool = False) -> Path:
    """Return the cached binary, building it first if the sources changed."""
    target = binary_path()
    if target.exists():
        return target
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    go = shutil.which("go")
    if go is None:
        raise DevDBError("the Go toolchain (go) is needed to build the embedded database")
    # One build at a time, even when `make run` and `make test` start together.
    with open(BIN_DIR / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        if not quiet:
            print("building devdb (FerretDB v1.24.2, first run only)...", file=sys.stderr)
        partial = target.with_suffix(".partial")
        subprocess.run(  # noqa: S603 - fixed arguments
            [go, "build", "-trimpath", "-o", str(partial), "."],
            cwd=SOURCE_DIR, check=True,
        )
        partial.rename(target)
        for old in BIN_DIR.glob("devdb-*"):
            if old != target and not old.name.endswith(".lock"):
                old.unlink(missing_ok=True)
    return target


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class DevDB:
    """One embedded server process on ``host:port`` keeping its data in ``data_dir``."""

    def __init__(self, data_dir: Path | str, *, host: str = "127.0.0.1",
                 port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port or free_port(host)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60.0) -> str:
        binary = ensure_built()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "devdb.log", "ab")  # noqa: SIM115 - owned by the process
        # Its standard input is a pipe we hold open: when this process dies, the pipe
        # closes and the server stops (-exit-with-parent), so it never outlives us.
        self._process = subprocess.Popen(  # noqa: S603 - our own binary
            [str(binary), "-listen", f"{self.host}:{self.port}", "-data", str(self.data_dir),
             "-exit-with-parent"],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.PIPE,
        )
        log.close()
        self._wait_ready(timeout)
        return self.uri

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None and self._process.stdout is not None
        process, stdout = self._process, self._process.stdout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                if process.returncode == EXIT_FOLDER_IN_USE:
                    raise FolderInUse(self._last_log_line())
                raise DevDBError(f"devdb exited with {process.returncode}; "
                                 f"see {self.data_dir / 'devdb.log'}")
            ready, _, _ = select.select([stdout], [], [], 0.2)
            if ready and b"devdb ready" in stdout.readline():
                return
        self.stop()
        raise DevDBError(f"devdb not ready after {timeout:.0f}s")

    def _last_log_line(self) -> str:
        lines = (self.data_dir / "devdb.log").read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "devdb refused to start"

    def kill(self) -> None:
        """Tests only: the server dies at once, as with kill -9."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stdin):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> DevDB:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devdb.launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build the embedded database binary if needed")
    serve = sub.add_parser("serve", help="run the embedded database in the foreground")
    serve.add_argument("--listen", default="127.0.0.1:27017")
    serve.add_argument("--data", default=str(PROJECT_ROOT / "var" / "devdb"))
    args = parser.parse_args(argv)
    if args.command == "build":
        print(ensure_built())
        return 0
    host, _, port = args.listen.rpartition(":")
    db = DevDB(args.data, host=host, port=int(port))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        db.start()
    except DevDBError as error:
        print(f"devdb: {error}", file=sys.stderr)
        return 2
    print(f"devdb serving {db.uri} (data in {db.data_dir}); Ctrl-C stops it")
    with contextlib.suppress(KeyboardInterrupt):
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    db.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
