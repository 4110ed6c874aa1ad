"""``GET /v1/me`` against a bare Tornado handler that does one ``find_one`` by ``_id`` on
the same embedded database, both served in this process, measured in the same run with
the same number of connections.

    python -m bench.light_calls [--seconds 5] [--connections 20]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from tornado.web import Application, RequestHandler

from auth.model import Account, Audience, Role
from auth.sessions import start_session
from bench.harness import devdb, load_average, service, throughput
from devdb.launcher import free_port


class BareHandler(RequestHandler):
    """The least a handler for /v1/me could do: one document by _id, as JSON."""

    def initialize(self, collection: Any, account_id: str) -> None:
        self.collection, self.account_id = collection, account_id

    async def get(self) -> None:
        doc = await self.collection.find_one({"_id": self.account_id})
        self.write({"account_id": doc["_id"], "role": doc["role"]})


async def run(seconds: float, connections: int) -> None:
    with devdb() as database:
        async with service(database.uri, "bench_light") as (deps, base):
            account = Account(account_id="Abench0000000000001", role=Role.CITIZEN,
                              created_at=deps.clock.now(), phone="13800000000")
            await deps.auth.repo.create_account(account)
            login = await start_session(account, Audience.APP, {"model": "bench"},
                                        ctx=deps.auth)
            headers = {"Authorization": f"Bearer {login.access_token}"}
            port = free_port()
            bare = Application([(r"/me", BareHandler, {
                "collection": deps.db["accounts"], "account_id": account.account_id})])
            server = bare.listen(port, address="127.0.0.1")
            await throughput(f"{base}/v1/me", headers, 1.0, connections)  # warm up
            me_rate, me_p99 = await throughput(f"{base}/v1/me", headers, seconds, connections)
            bare_rate, bare_p99 = await throughput(f"http://127.0.0.1:{port}/me", {}, seconds,
                                                   connections)
            server.stop()
    print(f"{connections} connections, {seconds:.0f} s each; {load_average()}")
    print(f"GET /v1/me        {me_rate:7.0f} req/s  p99 {me_p99 * 1000:6.1f} ms")
    print(f"bare find_one     {bare_rate:7.0f} req/s  p99 {bare_p99 * 1000:6.1f} ms")
    print(f"ratio /v1/me / bare: {me_rate / bare_rate:4.2f}x  (goal >= 0.6x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.connections))


if __name__ == "__main__":
    main()
