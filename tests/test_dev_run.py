"""The dev tools never fight the running server: while ``app.py serve`` runs on its
embedded database, the README's commands use that database (their effects show through
the API at once), a second devdb on the same data folder refuses, a devdb that dies is
restarted, and killing the server with -9 leaves no devdb behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from devdb.launcher import free_port, running_uri
from people.model import check_character
from tests.conftest import ROOT, Api
from tests.journeys import poll


async def _command(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def _gone(pid: int, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds * 10)):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.1)  # another process is shutting down
    return False


async def test_commands_use_the_running_server_and_devdb_is_looked_after(tmp_path: Path):
    port, wechat_port, aliyun_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env.update(APP_ENV="dev", PORT=str(port), DATA_DIR=str(tmp_path),
               WECHAT_BASE_URL=f"http://127.0.0.1:{wechat_port}",
               ALIYUN_SMS_ENDPOINT=f"http://127.0.0.1:{aliyun_port}")
    server = await asyncio.create_subprocess_exec(
        sys.executable, "app.py", "serve", "--standins", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    api = Api(f"http://127.0.0.1:{port}")
    folder = tmp_path / "devdb"
    try:
        await poll(f"http://127.0.0.1:{port}/readyz", '"ready"')
        uri = running_uri(folder)
        assert uri is not None

        # A key made by the command line works at once, without a restart.
        code, out, err = await _command("app.py", "create-service-key", "--name", "feeds",
                                        "--scope", "registry.feed", "--scope",
                                        "settlement.ingest", "--scope", "card.feed", env=env)
        assert code == 0, err
        key = {"X-Service-Key": out.strip().splitlines()[-1]}
        first17 = "15010219500304011"
        id_number = first17 + check_character(first17)
        person = await api.post("/v1/registry/people", headers=key, json_body={
            "id_number": id_number, "name": "张建国", "region_code": "150102",
            "person_type": "retiree", "monthly_pension_fen": "300000"})
        assert person.status == 200, person.body

        # Imports write where the server writes: afterwards the server still can.
        settlements = tmp_path / "settlements.csv"
        settlements.write_text("settlement_no,id_number,date,institution,amount_fen\n"
                               f"JS-CLI-1,{id_number},2026-11-20,市医院,1200\n", encoding="utf-8")
        code, out, err = await _command("app.py", "import-settlements", str(settlements),
                                        env=env)
        assert (code, "stored 1" in out) == (0, True), out + err
        posted = await api.post("/v1/medical/settlements", headers=key, json_body={
            "settlement_no": "JS-API-1", "id_number": id_number, "date": "2026-11-21",
            "institution": "市医院", "amount_fen": 800})
        assert posted.json() == {"outcome": "stored"}, posted.body
        again = await api.post("/v1/medical/settlements", headers=key, json_body={
            "settlement_no": "JS-CLI-1", "id_number": id_number, "date": "2026-11-20",
            "institution": "市医院", "amount_fen": 1200})
        assert again.json() == {"outcome": "duplicate"}  # the command's record is there
        events = tmp_path / "cards.csv"
        events.write_text("type,source,record_id,id_number,card_number,step_or_kind,at_or_date\n"
                          f"issuance,bank,R-CLI-1,{id_number},6217000011112222,data_entered,"
                          "2026-11-20T09:00:00+08:00\n", encoding="utf-8")
        code, out, err = await _command("app.py", "import-card-events", str(events), env=env)
        assert (code, "created 1" in out) == (0, True), out + err
        fed = await api.post("/v1/cards/feed/issuance", headers=key, json_body={
            "record_id": "R-API-1", "id_number": id_number, "card_number": "6217000011112222",
            "step": "paid", "at": "2026-11-21T09:00:00+08:00"})
        assert fed.json() == {"outcome": "recorded"}, fed.body

        # A second devdb on the same data folder refuses, and says why.
        code, out, err = await _command("-m", "devdb.launcher", "serve", "--listen",
                                        f"127.0.0.1:{free_port()}", "--data", str(folder),
                                        env=env)
        assert code != 0
        assert "in use by another devdb" in out + err

        # A devdb that dies is restarted on the same data; the API carries on.
        devdb_pid = int((folder / "devdb.lock").read_text().split()[0])
        os.kill(devdb_pid, signal.SIGKILL)
        assert await _gone(devdb_pid)
        await poll(f"http://127.0.0.1:{port}/readyz", '"ready"', attempts=120)
        assert (await api.post("/v1/medical/settlements", headers=key, json_body={
            "settlement_no": "JS-API-2", "id_number": id_number, "date": "2026-11-21",
            "institution": "市医院", "amount_fen": 900})).json() == {"outcome": "stored"}

        # Killing the server with -9 leaves no devdb holding the data folder.
        devdb_pid = int((folder / "devdb.lock").read_text().split()[0])
        server.kill()
        await server.wait()
        assert await _gone(devdb_pid)
        assert running_uri(folder) is None
    finally:
        api.close()
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
            await asyncio.wait_for(server.wait(), 60)
    stderr = (await server.stderr.read()).decode() if server.stderr else ""
    assert "embedded database restarted" in stderr, stderr[-3000:]
