"""Build (once) and run the embedded FerretDB server.

The binary is cached under ``var/bin`` by a hash of the Go sources, so a second
run starts at once and a change to the sources rebuilds it. ``make run`` and
the test suite both start servers through this module.

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
        self._process = subprocess.Popen(  # noqa: S603 - our own binary
            [str(binary), "-listen", f"{self.host}:{self.port}", "-data", str(self.data_dir)],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        self._wait_ready(timeout)
        return self.uri

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None and self._process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DevDBError(f"devdb exited with {self._process.returncode}; "
                                 f"see {self.data_dir / 'devdb.log'}")
            ready, _, _ = select.select([self._process.stdout], [], [], 0.2)
            if ready and b"devdb ready" in self._process.stdout.readline():
                return
        self.stop()
        raise DevDBError(f"devdb not ready after {timeout:.0f}s")

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
        if process.stdout is not None:
            process.stdout.close()

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
    db.start()
    print(f"devdb serving {db.uri} (data in {db.data_dir}); Ctrl-C stops it")
    with contextlib.suppress(KeyboardInterrupt):
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    db.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
