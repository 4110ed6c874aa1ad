"""What every stand-in shares: scripted failures, a record of what arrived, a CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections import deque
from dataclasses import dataclass
from typing import Any

from tornado.log import access_log
from tornado.web import Application, RequestHandler


@dataclass
class ScriptedAnswer:
    """Answer the next request with ``code`` (None: answer normally) after ``delay_ms``."""

    code: Any = None
    delay_ms: int = 0


class Script:
    """A queue of scripted answers, set over the control API by tests and demos."""

    def __init__(self) -> None:
        self._queue: deque[ScriptedAnswer] = deque()

    def plan(self, body: dict[str, Any], code_field: str) -> None:
        answer = ScriptedAnswer(code=body.get(code_field), delay_ms=int(body.get("delay_ms", 0)))
        for _ in range(int(body.get("times", 1))):
            self._queue.append(answer)

    def next(self) -> ScriptedAnswer | None:
        return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        self._queue.clear()


class JsonHandler(RequestHandler):
    state: Any  # the stand-in's in-memory state, shared by its handlers

    def initialize(self, state: Any) -> None:
        self.state = state

    def write_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body, ensure_ascii=False))

    def body_json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.request.body or b"{}")
        except ValueError:
            value = None
        return value if isinstance(value, dict) else {}


async def delay(answer: ScriptedAnswer | None) -> None:
    if answer is not None and answer.delay_ms:
        await asyncio.sleep(answer.delay_ms / 1000)


def quiet_access_log(handler: RequestHandler) -> None:
    """Method, path and status only: query strings carry phone numbers and login codes."""
    request = handler.request
    access_log.info("%s %s %s %s", handler.get_status(), request.method, request.path,
                    handler.__class__.__name__)


def standin_app(state: Any, routes: list[tuple[str, type[RequestHandler]]]) -> Application:
    """A stand-in's application: every handler shares ``state``; access lines stay quiet."""
    app = Application([(path, handler, {"state": state}) for path, handler in routes],
                      log_function=quiet_access_log)
    app.settings["state"] = state
    return app


def run_standalone(name: str, default_port: int, make: Any) -> None:
    """``python -m standins.<name> --port N``: serve one stand-in until interrupted."""
    parser = argparse.ArgumentParser(prog=f"python -m standins.{name}")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    async def main() -> None:
        app: Application = make()
        app.listen(args.port, address=args.host)
        print(f"{name} stand-in on http://{args.host}:{args.port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    asyncio.run(main())
