"""Broadcasts on the desk: the compose form with its live head count and preview, sending through the
outbox, polite refusals that keep what was typed, and the acknowledgement figures by unit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from broadcasts import service
from broadcasts.models import Broadcast, BroadcastRecipient
from core import identity
from core.audit import AuditEvent
from core.db import utcnow
from core.outbox import OutboxMessage
from tests.desk.conftest import DeskHarness

TIP = "近期多发冒充公检法诈骗，<接警时>注意核实对方身份。"


async def _bureau(desk: DeskHarness) -> None:
    """A bureau with two stations: the legal officer L1, three officers, a supervisor."""
    await desk.add_officer("L1", name="周法制", roles=("officer", "legal"), unit="法制大队", parent="城关分局")
    await desk.add_officer("P1", name="张伟", unit="城关派出所", parent="城关分局", telegram_user_id=901)
    await desk.add_officer("P2", name="王芳", unit="城关派出所", parent="城关分局", telegram_user_id=902)
    await desk.add_officer("P3", name="李娜", unit="东关派出所", parent="城关分局")
    await desk.add_officer("S1", name="赵所长", roles=("officer", "supervisor"), unit="东关派出所", parent="城关分局",
                           telegram_user_id=904)


async def _count(desk: DeskHarness, model: type, *where: object) -> int:
    async with desk.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


class TestCompose:
    async def test_the_head_count_follows_the_audience_chosen(self, desk: DeskHarness) -> None:
        """The live part of the form counts a unit's officers, a role's holders, and says when none is chosen."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        form = await client.get("/broadcasts/new")
        assert form.status_code == 200 and "城关派出所" in form.text
        station = await desk.post(client, "/broadcasts/preview", {"units": "城关派出所", "subunits": "1"}, page="/broadcasts/new")
        assert station.status_code == 200 and '<strong class="count">2 名民警</strong>' in station.text
        both = await desk.post(client, "/broadcasts/preview", {"units": ["城关派出所", "东关派出所"], "subunits": "1"},
                               page="/broadcasts/new")
        assert '<strong class="count">4 名民警</strong>' in both.text
        supervisors = await desk.post(client, "/broadcasts/preview", {"roles": "supervisor"}, page="/broadcasts/new")
        assert '<strong class="count">1 名民警</strong>' in supervisors.text
        nobody = await desk.post(client, "/broadcasts/preview", {"text": TIP}, page="/broadcasts/new")
        assert "请选择发送对象" in nobody.text

    async def test_the_preview_shows_the_tip_as_officers_see_it(self, desk: DeskHarness) -> None:
        """The preview is the bot's own rendering: the heading, the escaped text and the Acknowledge button."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        shown = await desk.post(client, "/broadcasts/preview", {"text": TIP, "everyone": "1"}, page="/broadcasts/new")
        assert "风险提示" in shown.text and "&lt;接警时&gt;注意核实对方身份" in shown.text and "<接警时>" not in shown.text
        assert "周法制" in shown.text and 'class="ack-button"' in shown.text

    async def test_sending_queues_one_tip_per_officer(self, desk: DeskHarness) -> None:
        """Send now: the recipients are written, the tips go to the outbox, the page shows the figures."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        sent = await desk.post(client, "/broadcasts", {"text": TIP, "units": "城关派出所", "subunits": "1", "when": "now"},
                               page="/broadcasts/new")
        assert sent.status_code == 303 and "done=sent" in sent.headers["location"]
        async with desk.session() as session:
            broadcast = (await session.scalars(select(Broadcast))).one()
            pushes = (await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == f"broadcast:{broadcast.id}"))).all()
        assert broadcast.status == "sending" and broadcast.audience == "unit:城关派出所"
        assert len(pushes) == 2 and all("&lt;接警时&gt;" in p.payload["text"] for p in pushes)
        page = await client.get(sent.headers["location"])
        assert "提示正在发送给 2 名民警" in page.text and 'data-figure="recipients">2<' in page.text
        assert 'hx-trigger="every 2s"' in page.text
        assert await _count(desk, AuditEvent, AuditEvent.action == "desk.broadcast_sent") == 1
        assert await _count(desk, AuditEvent, AuditEvent.action == "broadcast.create") == 1

    async def test_an_empty_audience_is_refused_and_the_text_kept(self, desk: DeskHarness) -> None:
        """No audience chosen: a polite error, the tip shown back as typed, nothing written."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        refused = await desk.post(client, "/broadcasts", {"text": TIP, "when": "now"}, page="/broadcasts/new")
        assert refused.status_code == 400 and "请选择发送对象" in refused.text
        assert "&lt;接警时&gt;注意核实对方身份" in refused.text
        assert await _count(desk, Broadcast) == 0 and await _count(desk, OutboxMessage) == 0

    async def test_an_empty_text_is_refused_and_the_audience_kept(self, desk: DeskHarness) -> None:
        """No text: a polite error; the units chosen stay chosen."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        refused = await desk.post(client, "/broadcasts", {"text": "   ", "units": "东关派出所", "subunits": "1"},
                                  page="/broadcasts/new")
        assert refused.status_code == 400 and "请填写提示内容" in refused.text
        assert '<option value="东关派出所" selected>' in refused.text
        assert await _count(desk, Broadcast) == 0

    async def test_a_send_time_in_the_past_or_unreadable_is_refused(self, desk: DeskHarness) -> None:
        """A scheduled time that has passed, or is not a time, is explained."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        past = (utcnow() - timedelta(days=1)).astimezone(desk.settings.tz).strftime("%Y-%m-%dT%H:%M")
        refused = await desk.post(client, "/broadcasts", {"text": TIP, "everyone": "1", "when": "later", "send_at": past},
                                  page="/broadcasts/new")
        assert refused.status_code == 400 and "已过" in refused.text
        garbled = await desk.post(client, "/broadcasts", {"text": TIP, "everyone": "1", "when": "later", "send_at": "明天"},
                                  page="/broadcasts/new")
        assert garbled.status_code == 400 and "请填写发送日期和时间" in garbled.text
        assert await _count(desk, Broadcast) == 0

    async def test_a_tip_scheduled_for_later_waits(self, desk: DeskHarness) -> None:
        """Scheduled: the recipients are counted, nothing is queued yet."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        later = (utcnow() + timedelta(days=1)).astimezone(desk.settings.tz).strftime("%Y-%m-%dT%H:%M")
        done = await desk.post(client, "/broadcasts", {"text": TIP, "roles": "supervisor", "when": "later", "send_at": later},
                               page="/broadcasts/new")
        assert done.status_code == 303 and "done=scheduled" in done.headers["location"]
        assert await _count(desk, OutboxMessage) == 0 and await _count(desk, BroadcastRecipient) == 1


class TestFigures:
    async def test_acknowledgements_show_by_unit_and_polling_stops_when_all_have(self, desk: DeskHarness) -> None:
        """Each acknowledgement counts in its unit; once everyone has, the figures stop refreshing."""
        await _bureau(desk)
        async with desk.session() as session:
            legal = await identity.get_officer(session=session, badge="L1")
            assert legal is not None
            made = await service.create(session=session, sender=legal, text=TIP, audience="unit:城关派出所",
                                        settings=desk.settings)
            for message in (await session.scalars(select(OutboxMessage))).all():
                message.status = "sent"
        client = await desk.signed_in("L1")
        views = await _count(desk, AuditEvent, AuditEvent.action == "desk.view")
        before = await client.get(f"/broadcasts/{made.id}/figures")
        assert await _count(desk, AuditEvent, AuditEvent.action == "desk.view") == views  # the refresh is not a new view
        assert 'data-figure="acknowledged">0<' in before.text and 'data-polling="on"' in before.text
        async with desk.session() as session:
            for badge in ("P1", "P2"):
                officer = await identity.get_officer(session=session, badge=badge)
                assert officer is not None
                await service.acknowledge(session=session, broadcast_id=made.id, officer=officer)
            (await session.get(Broadcast, made.id)).status = "sent"  # type: ignore[union-attr]
        after = await client.get(f"/broadcasts/{made.id}/figures")
        assert 'data-figure="acknowledged">2<' in after.text and "100%" in after.text
        assert 'data-polling="off"' in after.text and "hx-trigger" not in after.text

    async def test_the_list_and_the_overview_show_acknowledgement_rates(self, desk: DeskHarness) -> None:
        """Recent tips carry their share acknowledged, on the list and in the overview's panel."""
        await _bureau(desk)
        async with desk.session() as session:
            legal = await identity.get_officer(session=session, badge="L1")
            officer = await identity.get_officer(session=session, badge="P1")
            assert legal is not None and officer is not None
            made = await service.create(session=session, sender=legal, text=TIP, audience="unit:城关派出所",
                                        settings=desk.settings)
            await service.acknowledge(session=session, broadcast_id=made.id, officer=officer)
        client = await desk.signed_in("L1")
        listed = await client.get("/broadcasts")
        assert f'href="/broadcasts/{made.id}"' in listed.text and "(50%)" in listed.text
        overview = await client.get("/")
        assert 'data-slot="broadcasts"' in overview.text and "50%" in overview.text


class TestAccess:
    async def test_only_the_legal_brigade_and_admins_open_broadcasts(self, desk: DeskHarness) -> None:
        """Supervisors and rights officers are refused every broadcast page, and nothing is sent for them."""
        await _bureau(desk)
        await desk.add_officer("R1", roles=("officer", "rights"), unit="城关分局")
        for badge in ("S1", "R1"):
            client = await desk.signed_in(badge)
            assert (await client.get("/broadcasts")).status_code == 403
            assert (await client.get("/broadcasts/new")).status_code == 403
            refused = await desk.post(client, "/broadcasts", {"text": TIP, "everyone": "1"})
            assert refused.status_code == 403
        assert await _count(desk, Broadcast) == 0
        await desk.add_officer("A1", roles=("admin",), unit="城关分局")
        admin = await desk.signed_in("A1")
        assert (await admin.get("/broadcasts/new")).status_code == 200

    async def test_a_send_without_its_csrf_token_is_refused(self, desk: DeskHarness) -> None:
        """A tip posted without the session's token is refused and nothing is written."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        refused = await client.post("/broadcasts", data={"text": TIP, "everyone": "1"})
        assert refused.status_code == 403 and await _count(desk, Broadcast) == 0

    async def test_the_compose_form_speaks_english_on_request(self, desk: DeskHarness) -> None:
        """With the language switch on English, the form, head count and errors are in English."""
        await _bureau(desk)
        client = await desk.signed_in("L1")
        client.cookies.set("frontline_desk_lang", "en")
        form = await client.get("/broadcasts/new")
        assert "Write a tip" in form.text and "Who gets it" in form.text
        counted = await desk.post(client, "/broadcasts/preview", {"units": "城关派出所", "subunits": "1"}, page="/broadcasts/new")
        assert '<strong class="count">2 officer(s)</strong>' in counted.text
        refused = await desk.post(client, "/broadcasts", {"text": TIP}, page="/broadcasts/new")
        assert refused.status_code == 400 and "Please choose who gets the tip" in refused.text
