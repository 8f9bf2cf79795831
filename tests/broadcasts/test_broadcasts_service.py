"""Broadcast services: one tip per recipient through the outbox, figures, acknowledgements, reminders, cancellation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from broadcast_helpers import FakeMessenger, badges_of, rows
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts import service
from broadcasts.articles import ArticleIndex, bundled_records, resolve
from broadcasts.figures import count_reminder_targets, figures, unacknowledged, unit_figures
from broadcasts.models import Broadcast, BroadcastAck, BroadcastRecipient, BroadcastStatus, tip_topic
from broadcasts.service import BroadcastError
from core import audit, identity
from core.db import transaction, utcnow
from core.identity import Officer
from core.outbox import DeliveryOptions, Media, Unreachable, claim_due, deliver_once, release_held
from core.settings import Settings

DB = async_sessionmaker[AsyncSession]


async def _send(
    db: DB, settings: Settings, spec: str, *, sender: str = "L1", text: str = "节假日期间注意执法安全。", **kwargs: object
) -> Broadcast:
    async with transaction(db) as session:
        officer = await identity.get_officer(session=session, badge=sender)
        assert officer is not None
        return await service.create(
            session=session, sender=officer, text=text, audience=spec, settings=settings, **kwargs  # type: ignore[arg-type]  # test pass-through
        )


async def _deliver(db: DB, settings: Settings, messenger: FakeMessenger, **options: object) -> None:
    await deliver_once(
        sessions=db, messenger=messenger, settings=settings, options=DeliveryOptions(**options)  # type: ignore[arg-type]  # test pass-through
    )


async def _figures(db: DB, broadcast_id: int) -> dict[str, int]:
    async with transaction(db) as session:
        return (await figures(session=session, broadcast_id=broadcast_id)).as_json()


async def _officer(db: DB, badge: str) -> Officer:
    async with transaction(db) as session:
        found = await identity.get_officer(session=session, badge=badge)
        assert found is not None
        return found


class TestCreateAndRelease:
    async def test_one_tip_per_recipient_with_the_acknowledge_button_and_the_topic(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Sent now: a row per recipient, each in its reader's language, with 已阅 and the broadcast's topic."""
        broadcast = await _send(db, quiet_off, "unit:城关派出所")
        assert broadcast.status == BroadcastStatus.SENDING
        tips = await rows(db, tip_topic(broadcast.id))
        assert badges_of(world, [r.officer_id for r in tips]) == {"A1", "A2", "A3", "A4"}
        assert {r.kind for r in tips} == {"broadcast"}
        assert all(r.payload["buttons"] == [[{"text": "✅ 已阅" if r.officer_id != world["A3"].id else "✅ Acknowledge", "callback_data": f"bca:{broadcast.id}"}]] for r in tips)
        english = next(r for r in tips if r.officer_id == world["A3"].id)
        chinese = next(r for r in tips if r.officer_id == world["A1"].id)
        assert english.payload["text"].startswith("📢 <b>Risk tip</b>")
        assert chinese.payload["text"].startswith("📢 <b>风险提示</b>")
        assert "节假日期间注意执法安全。" in chinese.payload["text"] and "法制大队 李法制" in chinese.payload["text"]
        assert await _figures(db, broadcast.id) == {
            "id": broadcast.id, "recipients": 4, "sent": 0, "acknowledged": 0, "unreachable": 0, "pending": 4, "cancelled": 0,
        }

    async def test_the_sender_gets_a_status_message_queued_ahead_of_the_tips(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Sent without the bot (the command line), the sender's status message is a push of its own, due first."""
        broadcast = await _send(db, quiet_off, "unit:东关派出所")
        status = [r for r in await rows(db) if r.kind == "broadcast.status"]
        assert len(status) == 1 and status[0].officer_id == world["L1"].id and status[0].urgent
        first = min(await rows(db, tip_topic(broadcast.id)), key=lambda r: r.not_before)
        assert status[0].not_before < first.not_before
        assert "第" in status[0].payload["text"] and "号通知" in status[0].payload["text"]

    async def test_linked_articles_are_quoted_with_their_version(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """A linked article is quoted under the tip with its law, number and version."""
        quotes = resolve(ArticleIndex(bundled_records()), ["刑事诉讼法:第七十九条"])
        broadcast = await _send(db, quiet_off, "unit-only:东关派出所", articles=quotes)
        text = (await rows(db, tip_topic(broadcast.id)))[0].payload["text"]
        assert "《刑事诉讼法》第七十九条（2018-10-26版）" in text
        assert "<blockquote expandable>第七十九条 人民法院、人民检察院和公安机关" in text

    async def test_only_the_legal_brigade_and_admins_may_send(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """An officer without the legal role is refused, and nothing is written."""
        with pytest.raises(BroadcastError) as caught:
            await _send(db, quiet_off, "all", sender="A2")
        assert caught.value.code == "forbidden"
        async with transaction(db) as session:
            assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0

    @pytest.mark.parametrize(
        ("spec", "text", "code"),
        [
            ("unit-only:县公安局+role:supervisor", "提示", "no_recipients"),
            ("all", "   ", "empty_text"),
            ("all", "字" * 3600, "text_too_long"),
        ],
    )
    async def test_a_broadcast_that_cannot_go_out_is_refused_with_its_reason(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings, spec: str, text: str, code: str
    ) -> None:
        """No recipients, no text, too long: each is refused with its own code."""
        with pytest.raises(BroadcastError) as caught:
            await _send(db, quiet_off, spec, text=text)
        assert caught.value.code == code

    async def test_a_caption_too_long_for_a_photo_is_refused_with_the_excess(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """With a photo the tip is a caption (1,024 characters): a longer one says how much to cut."""
        with pytest.raises(BroadcastError) as caught:
            await _send(db, quiet_off, "all", text="注" * 1100, media=Media(kind="photo", file_id="AgAD"))
        assert caught.value.code == "too_long" and int(caught.value.detail) > 76

    async def test_a_time_in_the_past_is_refused(self, db: DB, world: dict[str, Officer], quiet_off: Settings) -> None:
        """Scheduling for yesterday is a mistake, not "now"."""
        with pytest.raises(BroadcastError) as caught:
            await _send(db, quiet_off, "all", send_at=utcnow() - timedelta(days=1))
        assert caught.value.code == "in_past"

    async def test_the_broadcast_is_audited(self, db: DB, world: dict[str, Officer], quiet_off: Settings) -> None:
        """Writing and releasing are in the audit log, with the audience and the head count."""
        broadcast = await _send(db, quiet_off, "role:supervisor")
        async with transaction(db) as session:
            events = {e.action: e for e in await audit.tail(session=session, limit=20)}
        assert events["broadcast.create"].detail["recipients"] == 2
        assert events["broadcast.create"].detail["audience"] == "role:supervisor"
        assert events["broadcast.release"].target_id == str(broadcast.id)


class TestDeliveryFigures:
    async def test_blocked_recipients_are_counted_unreachable_and_the_rest_delivered(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """A 403 marks that officer unreachable and counts them; every other tip still goes out."""
        broadcast = await _send(db, quiet_off, "unit:城关分局")
        messenger = FakeMessenger()
        messenger.fail(9201, Unreachable("Forbidden: bot was blocked by the user"))
        await _deliver(db, quiet_off, messenger)
        assert await _figures(db, broadcast.id) == {
            "id": broadcast.id, "recipients": 7, "sent": 5, "acknowledged": 0, "unreachable": 1, "pending": 1, "cancelled": 0,
        }
        blocked = await _officer(db, "A1")
        assert blocked.reachable is False
        async with transaction(db) as session:
            f = await figures(session=session, broadcast_id=broadcast.id)
        assert (f.awaiting_enrollment, f.in_flight) == (1, 0)

    async def test_an_officer_who_enrolls_later_gets_the_held_tip(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """A4 is not enrolled: the tip waits (pending), then goes out once A4 enrolls."""
        broadcast = await _send(db, quiet_off, "unit-only:城关派出所")
        messenger = FakeMessenger()
        await _deliver(db, quiet_off, messenger)
        assert (await _figures(db, broadcast.id))["pending"] == 1
        async with transaction(db) as session:
            late = await session.get(Officer, world["A4"].id)
            assert late is not None
            late.telegram_user_id = 9204
            await session.flush()
            assert await release_held(session=session, officer_id=late.id) == 1
        await _deliver(db, quiet_off, messenger)
        assert (await _figures(db, broadcast.id))["sent"] == 3
        assert len(messenger.to(9204)) == 1

    async def test_an_officer_blocked_before_the_broadcast_is_unreachable_not_pending(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Their tip is held for them like any push; the figures count it unreachable."""
        async with transaction(db) as session:
            b1 = await session.get(Officer, world["B1"].id)
            assert b1 is not None
            b1.reachable = False
        broadcast = await _send(db, quiet_off, "unit:东关派出所")
        await _deliver(db, quiet_off, FakeMessenger())
        counted = await _figures(db, broadcast.id)
        assert (counted["sent"], counted["unreachable"], counted["pending"]) == (1, 1, 0)

    async def test_per_unit_figures_add_up_to_the_whole(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Each recipient counts in the unit they were in; the units add up to the broadcast."""
        broadcast = await _send(db, quiet_off, "unit:城关分局")
        await _deliver(db, quiet_off, FakeMessenger())
        async with transaction(db) as session:
            units = {u.unit_name: u.figures for u in await unit_figures(session=session, broadcast_id=broadcast.id)}
            whole = await figures(session=session, broadcast_id=broadcast.id)
        assert {name: f.recipients for name, f in units.items()} == {
            "城关分局": 1, "城关派出所": 3, "社区警务队": 1, "东关派出所": 2,
        }
        assert units["城关派出所"].pending == 1 and units["城关派出所"].sent == 2
        assert sum(f.sent for f in units.values()) == whole.sent == 6


class TestAcknowledgement:
    async def test_an_acknowledgement_is_one_row_with_its_time_and_a_second_press_changes_nothing(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """The first press records the time; the second returns that same time and writes nothing."""
        broadcast = await _send(db, quiet_off, "unit:东关派出所")
        officer = await _officer(db, "B1")
        async with transaction(db) as session:
            first = await service.acknowledge(session=session, broadcast_id=broadcast.id, officer=officer)
        async with transaction(db) as session:
            again = await service.acknowledge(
                session=session, broadcast_id=broadcast.id, officer=officer, now=utcnow() + timedelta(hours=2)
            )
            count = await session.scalar(select(func.count()).select_from(BroadcastAck))
            audited = [e for e in await audit.tail(session=session, limit=50) if e.action == "broadcast.ack"]
        assert first.new and not again.new
        assert again.acknowledged_at == first.acknowledged_at
        assert count == 1 and len(audited) == 1
        assert (await _figures(db, broadcast.id))["acknowledged"] == 1

    async def test_acknowledgements_are_counted_per_officer_never_as_one_flag(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Two officers acknowledging make two; the unacknowledged list keeps the others, by unit."""
        broadcast = await _send(db, quiet_off, "unit:城关分局")
        await _deliver(db, quiet_off, FakeMessenger())
        for badge in ("B1", "A1"):
            officer = await _officer(db, badge)
            async with transaction(db) as session:
                await service.acknowledge(session=session, broadcast_id=broadcast.id, officer=officer)
        async with transaction(db) as session:
            left = await unacknowledged(session=session, broadcast_id=broadcast.id)
        assert (await _figures(db, broadcast.id))["acknowledged"] == 2
        assert [(p.unit_name, p.badge, p.state) for p in left] == [
            ("东关派出所", "B2", "delivered"),
            ("城关分局", "C1", "delivered"),
            ("城关派出所", "A2", "delivered"),
            ("城关派出所", "A4", "not_enrolled"),
            ("社区警务队", "A3", "delivered"),
        ]

    async def test_only_recipients_may_acknowledge(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """An officer outside the audience, or a press on the preview, is refused."""
        broadcast = await _send(db, quiet_off, "unit:东关派出所")
        outsider = await _officer(db, "A1")
        async with transaction(db) as session:
            with pytest.raises(BroadcastError) as caught:
                await service.acknowledge(session=session, broadcast_id=broadcast.id, officer=outsider)
            assert caught.value.code == "not_recipient"
            with pytest.raises(BroadcastError) as preview:
                await service.acknowledge(session=session, broadcast_id=0, officer=outsider)
            assert preview.value.code == "preview"


class TestReminders:
    async def test_a_round_reaches_only_those_who_got_the_tip_and_have_not_acknowledged(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Not the acknowledged, not the not-yet-enrolled; a reminder carries 已阅 and its round."""
        broadcast = await _send(db, quiet_off, "unit-only:城关派出所")
        await _deliver(db, quiet_off, FakeMessenger())
        officer = await _officer(db, "A1")
        async with transaction(db) as session:
            await service.acknowledge(session=session, broadcast_id=broadcast.id, officer=officer)
            assert await count_reminder_targets(session=session, broadcast_id=broadcast.id) == 1
            sent = await service.remind(
                session=session,
                broadcast_id=broadcast.id,
                actor="L1",
                settings=quiet_off,
                now=utcnow() + timedelta(minutes=61),
            )
        assert sent == 1
        reminders = [r for r in await rows(db) if r.kind == "broadcast.reminder"]
        assert badges_of(world, [r.officer_id for r in reminders]) == {"A2"}
        assert reminders[0].payload["text"].startswith("🔔 <b>第1次提醒")
        assert reminders[0].payload["buttons"][0][0]["callback_data"] == f"bca:{broadcast.id}"

    async def test_rounds_are_an_hour_apart_and_limited(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Too soon after the send or the last round is refused; so is a round beyond the maximum."""
        settings = quiet_off.model_copy(update={"broadcast_max_reminders": 2})
        broadcast = await _send(db, settings, "unit:东关派出所")
        await _deliver(db, settings, FakeMessenger())
        start = utcnow()

        async def remind(minutes: int) -> str | int:
            async with transaction(db) as session:
                try:
                    return await service.remind(
                        session=session,
                        broadcast_id=broadcast.id,
                        actor="L1",
                        settings=settings,
                        now=start + timedelta(minutes=minutes),
                    )
                except BroadcastError as error:
                    return error.code

        assert await remind(30) == "too_soon"
        assert await remind(61) == 2
        assert await remind(100) == "too_soon"
        assert await remind(125) == 2
        assert await remind(300) == "reminders_used"
        async with transaction(db) as session:
            rounds = [e.detail["round"] for e in await audit.tail(session=session, limit=50) if e.action == "broadcast.remind"]
        assert rounds == [1, 2]

    async def test_nobody_left_to_remind_is_said_so(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """When everyone reached has acknowledged, a round is refused rather than sent to no one."""
        broadcast = await _send(db, quiet_off, "unit-only:城关分局")
        await _deliver(db, quiet_off, FakeMessenger())
        officer = await _officer(db, "C1")
        async with transaction(db) as session:
            await service.acknowledge(session=session, broadcast_id=broadcast.id, officer=officer)
            with pytest.raises(BroadcastError) as caught:
                await service.remind(
                    session=session, broadcast_id=broadcast.id, actor="L1", settings=quiet_off,
                    now=utcnow() + timedelta(hours=2),
                )
        assert caught.value.code == "nobody_to_remind"


class TestCancellation:
    async def test_cancelling_mid_send_withdraws_only_what_is_not_yet_out(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Sent tips stay sent, a tip being sent goes, the queued and held ones are withdrawn."""
        broadcast = await _send(db, quiet_off, "unit:城关分局")
        messenger = FakeMessenger()
        await _deliver(db, quiet_off, messenger, batch_size=3)  # the sender's status message and two tips
        async with transaction(db) as session:
            in_the_air = await claim_due(session=session, lease_owner="other-worker", limit=1, lease_seconds=60)
        async with transaction(db) as session:
            withdrawn = await service.cancel(session=session, broadcast_id=broadcast.id, actor="L1")
        assert withdrawn == 4  # 7 recipients: 2 sent, 1 being sent, 3 queued and A4's held tip
        counted = await _figures(db, broadcast.id)
        assert (counted["sent"], counted["cancelled"], counted["pending"]) == (2, 4, 1)
        assert counted["recipients"] == counted["sent"] + counted["cancelled"] + counted["pending"] + counted["unreachable"]
        left = await rows(db, tip_topic(broadcast.id))
        assert sorted(r.status for r in left) == ["sending", "sent", "sent"]
        assert in_the_air[0].id in {r.id for r in left if r.status == "sending"}
        await _deliver(db, quiet_off, messenger)
        assert len(messenger.sent) == 3  # nothing withdrawn went out afterwards
        async with transaction(db) as session:
            assert (await session.get(Broadcast, broadcast.id)).status == "cancelled"  # type: ignore[union-attr]
            events = [e for e in await audit.tail(session=session, limit=50) if e.action == "broadcast.cancel"]
        assert events[0].detail == {"withdrawn": 4, "reminders_withdrawn": 0}

    async def test_cancelling_a_scheduled_tip_means_none_goes_out(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """A scheduled broadcast cancelled before its time is never released."""
        broadcast = await _send(db, quiet_off, "all", send_at=utcnow() + timedelta(hours=3))
        assert broadcast.status == "scheduled" and await rows(db, tip_topic(broadcast.id)) == []
        async with transaction(db) as session:
            assert await service.cancel(session=session, broadcast_id=broadcast.id, actor="L1") == 9
            reloaded = await session.get(Broadcast, broadcast.id)
            assert reloaded is not None
            assert await service.release(session=session, broadcast=reloaded, settings=quiet_off) == 0
        assert (await _figures(db, broadcast.id))["cancelled"] == 9

    async def test_nothing_left_to_cancel_is_said_so(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Once every tip is out, cancelling is refused (and a second cancel says it was cancelled)."""
        broadcast = await _send(db, quiet_off, "unit:东关派出所")
        await _deliver(db, quiet_off, FakeMessenger())
        async with transaction(db) as session:
            with pytest.raises(BroadcastError) as caught:
                await service.cancel(session=session, broadcast_id=broadcast.id, actor="L1")
        assert caught.value.code == "nothing_to_cancel"


class TestHistory:
    async def test_notices_list_the_unacknowledged_first(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """我的通知: unread tips first (newest first), then the acknowledged; withdrawn ones are left out."""
        first = await _send(db, quiet_off, "unit:东关派出所", text="第一条")
        second = await _send(db, quiet_off, "unit:东关派出所", text="第二条")
        third = await _send(db, quiet_off, "unit:东关派出所", text="第三条")
        officer = await _officer(db, "B1")
        async with transaction(db) as session:
            await service.acknowledge(session=session, broadcast_id=third.id, officer=officer)
            notices = await service.notices_for(session=session, officer_id=officer.id)
            unread = await service.count_unread(session=session, officer_id=officer.id)
        assert [n.broadcast.id for n in notices] == [second.id, first.id, third.id]
        assert unread == 2
        async with transaction(db) as session:
            await service.cancel(session=session, broadcast_id=first.id, actor="L1")
            notices = await service.notices_for(session=session, officer_id=officer.id)
        assert first.id not in [n.broadcast.id for n in notices]

    async def test_search_by_words_date_and_the_units_reached(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Words of the text, a time window, and a unit the tips reached (through a parent unit too)."""
        east = await _send(db, quiet_off, "unit:东关派出所", text="夜间巡逻注意安全")
        bureau = await _send(db, quiet_off, "unit:城关分局", text="醉驾查处程序提示")
        roles = await _send(db, quiet_off, "role:rights", text="维权申请流程提示")
        async with transaction(db) as session:

            async def ids(**kwargs: object) -> list[int]:
                return [b.id for b in await service.search(session=session, **kwargs)]  # type: ignore[arg-type]  # test pass-through

            assert await ids() == [roles.id, bureau.id, east.id]
            assert await ids(text="提示") == [roles.id, bureau.id]
            assert await ids(text="醉驾 程序") == [bureau.id]
            assert await ids(audience="东关派出所") == [bureau.id, east.id]
            assert await ids(audience="role:rights") == [roles.id]
            assert await ids(since=utcnow() + timedelta(minutes=5)) == []
            assert await ids(until=utcnow() + timedelta(minutes=5), limit=1) == [roles.id]

    async def test_a_tip_is_visible_to_its_recipients_and_the_legal_brigade_only(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Opening a tip from 我的通知 is for those it was sent to (and the brigade)."""
        broadcast = await _send(db, quiet_off, "unit:东关派出所")
        async with transaction(db) as session:
            for badge in ("B1", "L2"):
                officer = await identity.get_officer(session=session, badge=badge)
                assert officer is not None
                assert (await service.visible_to(session=session, broadcast_id=broadcast.id, officer=officer)).id == broadcast.id
            outsider = await identity.get_officer(session=session, badge="A1")
            assert outsider is not None
            with pytest.raises(BroadcastError):
                await service.visible_to(session=session, broadcast_id=broadcast.id, officer=outsider)


class TestRecipientsAreASnapshot:
    async def test_recipients_are_those_named_when_it_was_written(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """The head count the sender approved is who gets it: each with the unit they were in."""
        broadcast = await _send(db, quiet_off, "role:supervisor", send_at=utcnow() + timedelta(hours=1))
        async with transaction(db) as session:
            found = (await session.execute(
                select(BroadcastRecipient.officer_id, BroadcastRecipient.unit_id).where(
                    BroadcastRecipient.broadcast_id == broadcast.id
                )
            )).all()
        assert badges_of(world, [r.officer_id for r in found]) == {"A2", "B2"}
        assert {r.unit_id for r in found} == {world["A2"].unit_id, world["B2"].unit_id}
