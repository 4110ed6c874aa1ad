"""The coverage report for administrators (``report-coverage``): per league and month, the
share of certifications made by passive signals, by face, by family and by agents; how
many pensioners are due in the next 30 days; and how many are suspended."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from pension_cert.context import CertContext
from pension_cert.model import CertStatus, Channel, Month
from people.regions import region_name

GROUPS = {Channel.PASSIVE.value: "passive", Channel.FACE.value: "face",
          Channel.WECHAT_FACE.value: "face", Channel.FAMILY.value: "family",
          Channel.COMMITMENT.value: "family", Channel.AGENT.value: "agent"}
COLUMNS = ("league", "league_name", "month", "pensioners", "certified", "passive", "face",
           "family", "agent", "passive_share", "face_share", "family_share", "agent_share",
           "due_next_30_days", "suspended")
DUE_WINDOW = timedelta(days=30)


@dataclass
class LeagueCoverage:
    league: str
    pensioners: int = 0
    by_group: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    due_soon: int = 0
    suspended: int = 0

    @property
    def certified(self) -> int:
        return sum(self.by_group.values())

    def share(self, group: str) -> str:
        return f"{self.by_group[group] / self.certified:.3f}" if self.certified else ""


async def coverage(month: Month, *, ctx: CertContext) -> list[LeagueCoverage]:
    """Leagues in code order; the due and suspended counts are as of today."""
    today = ctx.today()
    leagues: dict[str, LeagueCoverage] = {}
    async for states in ctx.repo.all_states():
        people = await ctx.people.many([s.person_id for s in states])
        for state in states:
            person = people.get(state.person_id)
            if person is None or not person.is_pensioner or state.death_date is not None:
                continue
            league = person.region_code[:4] + "00"
            row = leagues.setdefault(league, LeagueCoverage(league))
            row.pensioners += 1
            for group in _certified_in(state.history, month):
                row.by_group[group] += 1
            status = state.status_on(today)
            if status is CertStatus.OVERDUE_SUSPENDED:
                row.suspended += 1
            elif today <= state.valid_through <= today + DUE_WINDOW:
                row.due_soon += 1
    return [leagues[k] for k in sorted(leagues)]


def _certified_in(history: list[dict[str, str]], month: Month) -> list[str]:
    groups = []
    for entry in history:
        group = GROUPS.get(entry.get("channel", ""))
        day = entry.get("day")
        if group and day and Month.of(date.fromisoformat(day)) == month and entry.get(
                "result", "certified") == "certified":
            groups.append(group)
    return groups


def coverage_rows(month: Month, leagues: list[LeagueCoverage]) -> list[list[str]]:
    rows = [list(COLUMNS)]
    for row in leagues:
        rows.append([row.league, region_name(row.league) or "", str(month), str(row.pensioners),
                     str(row.certified), *(str(row.by_group[g]) for g in
                                           ("passive", "face", "family", "agent")),
                     *(row.share(g) for g in ("passive", "face", "family", "agent")),
                     str(row.due_soon), str(row.suspended)])
    return rows
