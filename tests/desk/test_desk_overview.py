"""The overview: panels by role in the overview's slots, and figures kept briefly for repeated views."""

from __future__ import annotations

import re

from core.db import utcnow
from desk.modules.overview import PanelCache
from knowledge import feedback
from tests.desk.conftest import DeskHarness
from tests.desk.desk_fakes import seed


def waiting(page: str) -> int:
    """The number of waiting questions the overview shows."""
    found = re.search(r'panel-questions.*?<span class="num">(\d+)</span>', page, re.S)
    assert found is not None
    return int(found.group(1))


class TestOverview:
    async def test_each_role_sees_its_panels_in_slot_order(self, desk: DeskHarness) -> None:
        """Legal: deadlines, questions, broadcasts, tasks; supervisor: deadlines, tasks; rights office: applications."""
        async with desk.session() as session:
            seeded = await seed(session, desk.settings, utcnow())
        expected = {
            seeded.legal: ["deadlines", "questions", "broadcasts", "tasks"],
            seeded.supervisor: ["deadlines", "tasks"],
            seeded.rights: ["rights"],
        }
        for badge, slots in expected.items():
            client = await desk.signed_in(badge)
            page = (await client.get("/")).text
            assert re.findall(r'data-slot="(\w+)"', page) == slots, badge
        rights = (await (await desk.signed_in(seeded.rights)).get("/")).text
        assert "没有未办结的维权申请" in rights

    async def test_the_queue_panel_counts_and_ages_the_waiting_questions(self, desk: DeskHarness) -> None:
        """Four questions waiting, the oldest for four days: the panel says so and draws them by age."""
        async with desk.session() as session:
            seeded = await seed(session, desk.settings, utcnow())
        page = (await (await desk.signed_in(seeded.legal)).get("/")).text
        assert waiting(page) == 4 and "4 天" in page
        assert page.count('class="seg seg-question"') == 3

    async def test_kept_figures_expire_and_a_desk_change_drops_them_at_once(self, desk: DeskHarness) -> None:
        """A question referred from the bot shows when the kept figures expire; an answer on the desk at once."""
        asker = await desk.add_officer("P1", telegram_user_id=42)
        await desk.add_officer("L1", roles=("officer", "legal"))
        async with desk.session() as session:
            await feedback.refer_question(session=session, officer_id=asker.id, question="第一个问题？")
        client = await desk.signed_in("L1")
        assert waiting((await client.get("/")).text) == 1
        async with desk.session() as session:
            second = await feedback.refer_question(session=session, officer_id=asker.id, question="第二个问题？")
        assert waiting((await client.get("/")).text) == 1  # kept
        cache = desk.app.state.desk.extras["overview_cache"]
        assert isinstance(cache, PanelCache)
        clock = cache.clock
        cache.clock = lambda: clock() + desk.settings.desk_overview_cache_seconds + 1
        assert waiting((await client.get("/")).text) == 2  # expired
        cache.clock = clock
        await desk.post(client, f"/questions/{second.id}/answer", {"answer": "可以。"}, page="/questions")
        assert waiting((await client.get("/")).text) == 1  # the desk's own change: at once
