"""Rights protection end to end: the real bot over HTTP, an officer applying from the scene with photos,
a voice note and a document, the office acting on it, a restart mid-form, more information asked and given."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

from redis.asyncio import Redis
from sqlalchemy import select

from bot import storage
from core import identity
from core.audit import AuditEvent
from rights import custody
from rights.evidence import path_for
from rights.models import EvidenceStatus, RightsApplication, RightsEvidence, Status
from tests.e2e.conftest import Harness, MakeHarness, SimUser
from tests.fakebotapi import SentMessage

PHOTO_1 = b"\xff\xd8 photo of the injured arm"
PHOTO_2 = b"\xff\xd8 photo of the broken body camera"
REPORT = b"%PDF-1.4 medical report"
VOICE = b"OggS what happened, told by voice"


async def _people(harness: Harness) -> tuple[SimUser, SimUser, SimUser]:
    """县局 (rights office 6001) over 城关派出所 (applicant 1001, colleague 1002); all enrolled."""
    async with harness.session() as session:
        await identity.add_unit(session=session, name="县局")
        await identity.add_unit(session=session, name="城关派出所", parent="县局")
    await harness.add_officer("1001", name="张三", unit="城关派出所")
    await harness.add_officer("1002", name="李四", unit="城关派出所")
    await harness.add_officer("6001", name="赵维权", unit="县局", roles=("officer", "rights"))
    applicant = await harness.enroll(801, "1001")
    colleague = await harness.enroll(802, "1002")
    office = await harness.enroll(803, "6001")
    return applicant, colleague, office


async def _settled(harness: Harness, update_id: int, wait: float = 10.0) -> None:
    """Waits until the bot has committed an update: its changes and the conversation state it left.

    A handler answers before its transaction commits; a user who taps the next button faster than that
    would find the previous step's state not yet written, so every step of these tests waits for it.
    """
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        async with harness.session() as session:
            if await storage.already_processed(session=session, bot_id=harness.server.bot_id, update_id=update_id):
                return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"update {update_id} was not committed within {wait} s")


async def _next(user: SimUser, since: int, contains: str, wait: float = 5.0) -> SentMessage:
    return await user.wait_for(lambda m: contains in m.text, since=since, wait=wait)


async def _say(user: SimUser, text: str) -> SentMessage:
    """Sends text, waits for it to be handled and committed, returns the first message after it."""
    since = user.mark()
    await _settled(user.harness, user.send(text))
    return await user.wait_for(lambda m: True, since=since)


async def _tap(user: SimUser, message: SentMessage, button: str) -> None:
    """Presses a button and waits until the press is handled and committed."""
    await _settled(user.harness, await user.press(message, button))


async def _press(user: SimUser, message: SentMessage, button: str, expect: str) -> SentMessage:
    since = user.mark()
    await _tap(user, message, button)
    return await _next(user, since, expect)


async def _send(user: SimUser, send: Callable[[], int], expect: str) -> SentMessage:
    """Sends something (a file, a location) through ``send``, waits until it is handled and committed, and
    returns the first message after it containing ``expect``."""
    since = user.mark()
    await _settled(user.harness, send())
    return await _next(user, since, expect)


async def _start_form(applicant: SimUser) -> SentMessage:
    """我的维权 -> 新建 -> 暴力袭警 -> 刚才: returns the place question."""
    listing = await _say(applicant, "我的维权")
    assert "您还没有维权申请" in listing.text
    types = await _press(applicant, listing, "新建维权申请", "请选择类型")
    when = await _press(applicant, types, "暴力袭警", "什么时候")
    return await _press(applicant, when, "刚才", "发生在哪里")


async def _finish_form(harness: Harness, applicant: SimUser) -> SentMessage:
    """Location, a voice note for what happened, skip people, two photos and a document, help, summary."""
    server = harness.server
    uid = applicant.user_id
    what = await _send(applicant, lambda: server.send_location(uid, 30.27415, 120.15515), "事情经过")
    assert what.keyboard() and "我的维权" in str(what.keyboard())  # the menu is back
    since = applicant.mark()
    await _settled(harness, server.send_voice(uid, VOICE, file_id="voice-account"))
    await _next(applicant, since, "已收到语音说明")
    people = await _next(applicant, since, "涉事人员")
    evidence = await _press(applicant, people, "跳过", "作为证据")
    assert evidence.text
    await _send(applicant, lambda: server.send_photo(uid, content=PHOTO_1, file_id="p1"), "（1/20）")
    await _send(applicant, lambda: server.send_photo(uid, content=PHOTO_2, file_id="p2"), "（2/20）")
    server.too_big.add("bodycam")
    too_big = await _send(
        applicant, lambda: server.send_video(uid, None, file_id="bodycam", file_size=60_000_000), "（3/20）"
    )
    assert "过大" in too_big.text and "保存引用" in too_big.text
    ack = await _send(
        applicant, lambda: server.send_document(uid, REPORT, file_name="诊断证明.pdf", file_id="report"), "（4/20）"
    )
    help_ = await _press(applicant, ack, "完成", "需要哪些帮助")
    await _tap(applicant, help_, "医疗救治")
    await applicant.wait_for(lambda m: m.message_id == help_.message_id and "✅ 医疗救治" in str(m.reply_markup))
    await _tap(applicant, applicant.messages[applicant.messages.index(help_)], "依法追责")
    await applicant.wait_for(lambda m: m.message_id == help_.message_id and "✅ 依法追责" in str(m.reply_markup))
    summary = await _press(applicant, applicant.messages[applicant.messages.index(help_)], "完成", "请核对")
    assert "暴力袭警" in summary.text and "30.27415" in summary.text and "（语音说明）" in summary.text
    assert "3 × 照片" not in summary.text and "2 × 照片" in summary.text and "1 × 视频" in summary.text
    assert "医疗救治、依法追责" in summary.text
    return summary


async def _application(
    harness: Harness, ready: Callable[[RightsApplication], bool] = lambda a: True, wait: float = 10.0
) -> RightsApplication:
    """Reads the (only) application once it exists and satisfies ``ready``."""
    deadline = time.monotonic() + wait
    while True:
        async with harness.session() as session:
            found = await session.scalar(select(RightsApplication))
        if found is not None and ready(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no application ready within {wait} s: {found and found.status}")
        await asyncio.sleep(0.05)


class TestApplyingFromTheScene:
    async def test_the_whole_flow_with_photos_a_voice_note_and_a_document(self, harness: Harness) -> None:
        """Apply with evidence, get a number and the law; the office gets it with the evidence, accepts,
        asks for more, gets the answer with a new photo, decides with a clearance notice and concludes."""
        applicant, _colleague, office = await _people(harness)
        await _start_form(applicant)
        summary = await _finish_form(harness, applicant)

        since = applicant.mark()
        await _tap(applicant, summary, "提交申请")
        submitted = await _next(applicant, since, "已提交")
        application = await _application(harness)
        assert application.number in submitted.text and "待受理" in submitted.text
        assert "县局维权办公室将于" in submitted.text
        law = await _next(applicant, since, "适用的法律规定")
        assert "《刑法》第二百七十七条第一款、第五款（2023-12-29版）" in law.text
        assert "第八条" in law.text and "妨害公务" in law.text and "辅警" in law.text

        # the evidence went into the store by its hash, with its custody log
        async with harness.session() as session:
            rows = list(await session.scalars(select(RightsEvidence).order_by(RightsEvidence.ordinal)))
            assert [(r.kind, r.purpose, r.status) for r in rows] == [
                ("voice", "account", EvidenceStatus.STORED), ("photo", "evidence", EvidenceStatus.STORED),
                ("photo", "evidence", EvidenceStatus.STORED), ("video", "evidence", EvidenceStatus.REFERENCE),
                ("document", "evidence", EvidenceStatus.STORED),
            ]
            assert rows[1].sha256 == hashlib.sha256(PHOTO_1).hexdigest()
            assert path_for(harness.settings, rows[4].sha256 or "").read_bytes() == REPORT
            report = await custody.verify(session=session, settings=harness.settings, application=application)
            assert report.ok and report.files_checked == 4 and report.references == 1

        # the office gets the card, then the photos and the video as one album, the document, the voice note
        card = await office.wait_for(lambda m: "新的维权申请" in m.text, wait=10)
        assert application.number in card.text and "张三" in card.text and "1001" in card.text
        album = await office.wait_for(lambda m: m.file == "p1", wait=10)
        assert album.media_group_id is not None and album.kind == "photo"
        grouped = [m for m in office.messages if m.media_group_id == album.media_group_id]
        assert [m.file for m in grouped] == ["p1", "p2", "bodycam"]
        await office.wait_for(lambda m: m.kind == "document" and m.file == "report", wait=10)
        await office.wait_for(lambda m: m.kind == "voice" and m.file == "voice-account", wait=10)

        # accept from the pushed card: the applicant hears of it
        since_applicant = applicant.mark()
        await _tap(office, card, "受理")
        accepted = await office.wait_for(
            lambda m: m.message_id == card.message_id and "已受理；如未另行指定，由您承办" in m.text
        )
        await _next(applicant, since_applicant, "已受理", wait=10)

        # the office looks at the evidence again (sent at once, logged as viewed) and at the timeline
        since = office.mark()
        await _tap(office, accepted, "查看证据")
        await office.wait_for(lambda m: m.file == "report", since=since, wait=10)
        timeline = await _press(office, office.messages[office.messages.index(accepted)], "办理记录", "办理记录")
        assert "提交申请" in timeline.text and "受理" in timeline.text and "6001" in timeline.text
        async with harness.session() as session:
            log = await custody.entries(session=session, application_id=application.id)
        assert [e.action for e in log].count("viewed") == 5 and log[-1].actor == "6001"

        # ask for more information; the applicant answers with text and a photo
        request = await _press(office, accepted, "要求补充材料", "需要申请人补充")
        assert request
        since_applicant = applicant.mark()
        confirm = await _say(office, "请补充伤情鉴定和现场照片")
        assert "暂停计算" in confirm.text and "等待申请人补充" in confirm.text
        asked = await _next(applicant, since_applicant, "请补充伤情鉴定和现场照片", wait=10)
        prompt = await _press(applicant, asked, "回复补充", "补充说明")
        assert prompt
        noted = await _say(applicant, "伤情鉴定明天出，先补一张现场照片")
        assert "已记下" in noted.text
        added = await _send(
            applicant, lambda: harness.server.send_photo(applicant.user_id, content=b"\xff\xd8 scene", file_id="p3"),
            "（1/20）",
        )
        since_office = office.mark()
        sent = await _press(applicant, added, "发送给维权办公室", "已发送给维权办公室")
        assert "1个文件" in sent.text
        await _next(office, since_office, "伤情鉴定明天出", wait=10)
        await office.wait_for(lambda m: m.file == "p3", since=since_office, wait=10)
        assert (await _application(harness)).status == Status.ACCEPTED

        # decide: 澄清正名 with the notice; then conclude
        since = office.mark()
        await _settled(harness, harness.server.press(
            office.user_id, accepted.message_id, accepted.button("作出决定").callback_data or ""
        ))
        outcomes = await _next(office, since, "请选择处理结果")
        ask_text = await _press(office, outcomes, "澄清正名", "澄清正名通报的全文")
        assert ask_text
        since_applicant = applicant.mark()
        decided = await _say(office, "经核查，网传张三同志执法时殴打群众一事不属实，特此澄清。")
        assert "处理决定已记录" in decided.text
        told = await _next(applicant, since_applicant, "已作出处理决定", wait=10)
        assert "特此澄清" in told.text and "澄清正名" in told.text
        await _tap(office, decided, "办结")
        await office.wait_for(lambda m: m.message_id == decided.message_id and "已办结" in m.text)
        final = await _application(harness)
        assert final.status == Status.CLOSED and final.ended_at is not None
        # a concluded application is no longer listed, but opens by its number
        listed = await _say(office, "维权受理")
        assert listed.text == "本办公室没有正在办理的维权申请。"
        reopened = await _say(office, f"/rightsoffice {final.number}")
        assert "已办结" in reopened.text and "移送追责" not in reopened.text and "澄清正名" in reopened.text

    async def test_a_restart_in_the_middle_of_the_form_loses_nothing(self, harness: Harness) -> None:
        """Type and time chosen, the bot restarts; the place typed after it continues the same form."""
        applicant, _colleague, office = await _people(harness)
        await _start_form(applicant)
        await harness.restart()
        since = applicant.mark()
        what = await _say(applicant, "城关镇人民路与解放路交叉口")
        assert "事情经过" in what.text
        people = await _say(applicant, "在路口查处酒驾时，当事人拒不配合并用手机砸向我的头部。")
        assert "涉事人员" in people.text
        evidence = await _say(applicant, "驾驶人王某，车牌浙A12345")
        assert "作为证据" in evidence.text
        help_ = await _press(applicant, evidence, "没有证据", "需要哪些帮助")
        summary = await _press(applicant, help_, "完成", "请核对")
        assert "城关镇人民路与解放路交叉口" in summary.text and "王某" in summary.text
        # change the type from the summary, then submit
        types = await _press(applicant, summary, "改类型", "请选择类型")
        summary = await _press(applicant, types, "威胁恐吓", "请核对")
        assert "威胁恐吓" in summary.text
        await _press(applicant, summary, "提交申请", "已提交")
        application = await _application(harness)
        assert application.type == "threat" and application.place == "城关镇人民路与解放路交叉口"
        assert applicant.messages[since:]
        await office.wait_for(lambda m: "新的维权申请" in m.text and "威胁恐吓" in m.text, wait=10)

    async def test_with_redis_the_draft_and_its_evidence_survive_a_restart(
        self, make_harness: MakeHarness, redis_url: str
    ) -> None:
        """With Redis as the conversation store, a draft holding a photo is kept across a restart and submitted."""
        redis = Redis.from_url(redis_url)
        harness = await make_harness(redis=redis)
        try:
            applicant, _colleague, office = await _people(harness)
            await _start_form(applicant)
            await _say(applicant, "城关镇人民路口")
            await _say(applicant, "被当事人持械威胁")
            evidence = await _say(applicant, "无")
            assert "作为证据" in evidence.text
            await _send(
                applicant, lambda: harness.server.send_photo(applicant.user_id, content=PHOTO_1, file_id="rp1"),
                "（1/20）",
            )
            keys = [key async for key in redis.scan_iter(f"{harness.redis_prefix}:*")]
            data = [await redis.get(key) for key in keys if key.endswith(b":data")]
            assert any(b"rp1" in (value or b"") for value in data)

            await harness.restart()
            done = await _say(applicant, "/rights")
            assert "继续填写未完成的申请" in str(done.reply_markup)
            step = await _press(applicant, done, "继续填写未完成的申请", "作为证据")
            assert "已收到1个文件" in step.text
            help_ = await _press(applicant, step, "完成", "需要哪些帮助")
            summary = await _press(applicant, help_, "完成", "请核对")
            assert "1 × 照片" in summary.text
            await _press(applicant, summary, "提交申请", "已提交")
            await office.wait_for(lambda m: m.file == "rp1", wait=10)
        finally:
            await harness.stop(close_db=True)
            keys = [key async for key in redis.scan_iter(f"{harness.redis_prefix}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

    async def test_my_applications_lists_status_and_next_step_and_allows_withdrawal(self, harness: Harness) -> None:
        """我的维权 shows the application with its next step; withdrawing tells the office."""
        applicant, _colleague, office = await _people(harness)
        await _start_form(applicant)
        await _say(applicant, "派出所门口")
        await _say(applicant, "被当事人当众辱骂。")
        evidence = await _say(applicant, "无")
        help_ = await _press(applicant, evidence, "没有证据", "需要哪些帮助")
        summary = await _press(applicant, help_, "完成", "请核对")
        await _press(applicant, summary, "提交申请", "已提交")
        application = await _application(harness)
        listing = await _say(applicant, "/rights")
        assert application.number in listing.text and "待受理" in listing.text and "下一步" not in listing.text
        assert "县局维权办公室将于" in listing.text
        card = await _press(applicant, listing, application.number, "状态")
        confirm = await _press(applicant, card, "撤回申请", "确定撤回")
        since_office = office.mark()
        await _press(applicant, confirm, "确定撤回", "已撤回")
        await _next(office, since_office, "申请人已撤回申请", wait=10)
        assert (await _application(harness)).status == Status.WITHDRAWN


class TestInEnglish:
    async def test_an_english_speaking_officer_applies_in_english(self, harness: Harness) -> None:
        """Every step reads in English; typing where a button is expected asks again; the place can be skipped
        from the reply keyboard; the law keeps its Chinese citation with an English heading."""
        async with harness.session() as session:
            await identity.add_unit(session=session, name="County Bureau")
        await harness.add_officer("6101", name="Rights", unit="County Bureau", roles=("officer", "rights"))
        await harness.add_officer("1101", name="Alex", unit="County Bureau", language="en")
        officer = await harness.enroll(811, "1101")
        listing = await _say(officer, "/rights")
        assert "You have no rights applications." in listing.text
        types = await _press(officer, listing, "New application", "Choose the type")
        again = await _say(officer, "someone hit me")
        assert again.text == "Please choose with the buttons (or send /cancel to stop)."
        when = await _press(officer, officer.messages[-1], "Insult or verbal abuse", "When did it happen?")
        assert types
        typed = await _press(officer, when, "Type the date and time", "Type the date and time")
        assert typed
        bad = await _say(officer, "tomorrow")
        assert "could not read that" in bad.text
        where = await _say(officer, "yesterday 20:00")
        assert "Where did it happen?" in where.text and where.keyboard()[1] == ["⏭ Skip this step"]
        what = await _say(officer, "⏭ Skip this step")
        assert "What happened?" in what.text
        people = await _say(officer, "Insulted in front of the crowd while issuing a ticket.")
        evidence = await _press(officer, people, "Skip", "as evidence")
        help_ = await _press(officer, evidence, "No evidence", "What help do you want?")
        summary = await _press(officer, help_, "Done", "Please check your application")
        assert "Type: Insult or verbal abuse" in summary.text and "Where: not given" in summary.text
        since = officer.mark()
        await _tap(officer, summary, "Submit the application")
        submitted = await _next(officer, since, "Your application has been submitted.")
        assert "Status: 🆕 Awaiting acceptance" in submitted.text
        law = await _next(officer, since, "The law that applies")
        assert "《刑法》第二百四十六条 (2023-12-29 version)" in law.text and "private prosecution" in law.text
        application = await _application(harness)
        assert application.occurred_precision == "minute" and application.place is None


class TestConfidentialityInTheBot:
    async def test_a_colleague_cannot_open_the_application_and_the_attempt_is_audited(self, harness: Harness) -> None:
        """A forged 'open' button from a colleague is refused, and the refusal is in the audit log;
        the rights office menu is refused to officers outside it."""
        applicant, colleague, _office = await _people(harness)
        await _start_form(applicant)
        await _say(applicant, "派出所门口")
        await _say(applicant, "被当事人威胁。")
        evidence = await _say(applicant, "无")
        help_ = await _press(applicant, evidence, "没有证据", "需要哪些帮助")
        summary = await _press(applicant, help_, "完成", "请核对")
        await _press(applicant, summary, "提交申请", "已提交")
        application = await _application(harness)
        refused = await _say(colleague, "维权受理")
        assert refused.text == "此功能仅供维权办公室使用。"
        since = colleague.mark()
        await _settled(harness, harness.server.press(colleague.user_id, refused.message_id, f"wqa:open:{application.id}:"))
        assert harness.server.callback_answers[-1]["text"] == "您无权查看或修改该申请。"
        assert colleague.messages[since:] == []
        async with harness.session() as session:
            audit = await session.scalar(select(AuditEvent).where(AuditEvent.action == "rights.refused"))
        assert audit is not None and audit.actor == "1002" and audit.target_id == application.number
