"""The bot end to end: real Dispatcher, Bot and HTTP session polling a fake Bot API server."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import func, select

from core import identity
from knowledge.models import AnswerFeedback
from tests.e2e.conftest import Harness, MakeHarness


class TestEnrollment:
    """Only enrolled, active officers get anything but the enrollment prompt."""

    async def test_unenrolled_account_gets_no_answer(self, harness: Harness) -> None:
        """A stranger asking a legal question is asked for a code and learns nothing."""
        stranger = harness.user(900)
        reply = await stranger.say("取保候审最长多久？")
        assert "登记码" in reply.text
        assert "第七十九条" not in reply.text
        assert harness.kb.asked == []

    async def test_deactivated_officer_pressing_an_old_button_is_refused(self, harness: Harness) -> None:
        """An inline button pressed after deactivation gets only a refusal and records nothing."""
        await harness.add_officer("2001")
        alice = await harness.enroll(501, "2001")
        answer = await alice.say("取保候审最长多久？")
        async with harness.session() as session:
            await identity.deactivate(session=session, badge="2001")
        assert await alice.press_for_answer(answer, "👍") == "该账号已停用，请联系管理员。"
        async with harness.session() as session:
            assert await session.scalar(select(func.count()).select_from(AnswerFeedback)) == 0

    async def test_enrolls_with_a_code_and_gets_the_menu(self, harness: Harness) -> None:
        """Sending a valid code binds the account and shows the menu."""
        await harness.add_officer("2001", name="李四")
        code = await harness.issue_code("2001")
        reply = await harness.user(501).say(code.lower())
        assert "登记成功" in reply.text and "李四" in reply.text
        assert reply.keyboard()[0] == ["法规问答", "我的提醒"]

    async def test_enrolls_through_a_deep_link(self, harness: Harness) -> None:
        """/start CODE enrolls as well."""
        await harness.add_officer("2002")
        code = await harness.issue_code("2002")
        reply = await harness.user(502).say(f"/start {code}")
        assert "2002" in reply.text

    async def test_a_used_code_is_refused(self, harness: Harness) -> None:
        """A code works once."""
        await harness.add_officer("2003")
        code = await harness.issue_code("2003")
        await harness.user(503).say(code)
        reply = await harness.user(504).say(code)
        assert reply.text == "登记码已被使用，请联系管理员重新获取。"

    async def test_five_wrong_codes_lock_the_account_out(self, harness: Harness) -> None:
        """After five wrong codes even the right one is refused, with the time to wait."""
        await harness.add_officer("2004")
        mallory = harness.user(505)
        for _attempt in range(5):
            reply = await mallory.say("ABCDEFGH")
            assert reply.text == "登记码无效，请核对后重新发送。"
        code = await harness.issue_code("2004")
        reply = await mallory.say(code)
        assert re.search(r"请 \d+ 分钟后再试", reply.text), reply.text
        async with harness.session() as session:
            officer = await identity.get_officer(session=session, badge="2004")
            assert officer is not None and officer.telegram_user_id is None

    async def test_deactivation_cuts_access_at_the_next_message(self, harness: Harness) -> None:
        """A deactivated officer gets no more answers."""
        await harness.add_officer("2005")
        bob = await harness.enroll(506, "2005")
        async with harness.session() as session:
            await identity.deactivate(session=session, badge="2005")
        reply = await bob.say("取保候审最长多久？")
        assert reply.text == "该账号已停用，请联系管理员。"
        assert harness.kb.asked == []


class TestQuestions:
    """Questions get quoted articles, folded when long, with working buttons."""

    async def test_answer_quotes_the_article_with_its_citation(self, harness: Harness) -> None:
        """The cited article is quoted in a blockquote under 《law》article（version版）."""
        await harness.add_officer("3001")
        alice = await harness.enroll(601, "3001")
        reply = await alice.say("取保候审最长多久？")
        assert "《刑事诉讼法》第七十九条（2018-10-26版）" in reply.text
        assert "<blockquote>人民法院、人民检察院和公安机关" in reply.text
        labels = [button.text for row in reply.buttons() for button in row]
        assert labels == ["👍", "👎", "📚 相关条文", "📨 转法制大队"]

    async def test_question_text_is_escaped(self, harness: Harness) -> None:
        """HTML in a question is shown as text, not markup."""
        await harness.add_officer("3002")
        alice = await harness.enroll(602, "3002")
        reply = await alice.say("<b>取保</b> & 期限？")
        assert "&lt;b&gt;取保&lt;/b&gt; &amp; 期限？" in reply.text

    async def test_superseded_article_is_marked(self, harness: Harness) -> None:
        """An article replaced by a newer instrument says so."""
        await harness.add_officer("3003")
        alice = await harness.enroll(603, "3003")
        reply = await alice.say("传唤后询问查证多久？")
        assert "已被修订，现行：治安管理处罚法（2025年修订）" in reply.text

    async def test_long_article_is_folded_and_expands_in_place(self, harness: Harness) -> None:
        """A long article shows its start; 展开全文 edits the same message to the full text."""
        await harness.add_officer("3004")
        alice = await harness.enroll(604, "3004")
        reply = await alice.say("证据收集有什么要求？")
        assert "全文结束标记" not in reply.text and " …</blockquote>" in reply.text
        await alice.press(reply, "展开全文")
        edited = await alice.wait_for(lambda m: m.message_id == reply.message_id and m.edits > 0)
        assert "全文结束标记" in edited.text
        assert all("展开全文" not in b.text for row in edited.buttons() for b in row)

    async def test_feedback_and_related_buttons(self, harness: Harness) -> None:
        """👍 is recorded and 相关条文 sends the related articles."""
        await harness.add_officer("3005")
        alice = await harness.enroll(605, "3005")
        reply = await alice.say("取保候审最长多久？")
        await alice.press(reply, "👍")
        since = alice.mark()
        await alice.press(reply, "相关条文")
        related = await alice.wait_for(lambda m: "相关条文" in m.text, since=since)
        assert "第九十一条" in related.text
        assert harness.server.callback_answers[0]["text"] == "感谢您的反馈。"
        async with harness.session() as session:
            row = await session.scalar(select(AnswerFeedback))
            assert row is not None and row.helpful and row.record_ids == ["xsssf-2018-079"]

    async def test_ungrounded_question_offers_the_legal_brigade(self, harness: Harness) -> None:
        """With no basis found the answer says so and offers only the referral."""
        await harness.add_officer("3006")
        alice = await harness.enroll(606, "3006")
        reply = await alice.say("外星人入境怎么处理？")
        assert "未找到该问题的法律依据" in reply.text
        assert [[b.text for b in row] for row in reply.buttons()] == [["📨 转法制大队"]]

    async def test_flood_control_answers_politely(self, make_harness: MakeHarness) -> None:
        """Beyond the per-minute limit the officer is asked to wait, and the KB is not asked."""
        harness = await make_harness(questions_per_minute=2)
        await harness.add_officer("3007")
        alice = await harness.enroll(607, "3007")
        await alice.say("取保候审最长多久？")
        await alice.say("拘留后多久提请逮捕？")
        reply = await alice.say("取保候审可以延长吗？")
        assert "提问过于频繁" in reply.text and "2" in reply.text
        assert len(harness.kb.asked) == 2

    async def test_handler_error_gives_an_apology_with_an_incident_id(self, harness: Harness) -> None:
        """A failure inside a handler apologises with an incident id and nothing else."""
        await harness.add_officer("3008")
        alice = await harness.enroll(608, "3008")
        reply = await alice.say("boom 取保")
        assert re.fullmatch(r"抱歉，系统出现问题，请稍后重试。事件编号：[0-9a-f]{8}", reply.text), reply.text
        after = await alice.say("取保候审最长多久？")
        assert "第七十九条" in after.text

    async def test_non_text_message_asks_for_text(self, harness: Harness) -> None:
        """A photo gets a polite request for text."""
        await harness.add_officer("3009")
        alice = await harness.enroll(609, "3009")
        since = alice.mark()
        harness.server.send_photo(609)
        reply = await alice.wait_for(lambda m: True, since=since)
        assert reply.text == "请以文字形式发送您的问题。"


class TestLegalBrigade:
    """Referred questions reach the legal brigade, whose answers reach the officer and the KB."""

    async def test_referral_answer_and_guidance(self, harness: Harness) -> None:
        """Refer, pick, answer, deliver, save as guidance."""
        await harness.add_officer("4001", name="王警官")
        await harness.add_officer("4900", name="法制员", roles=("legal",), unit="法制大队")
        asker = await harness.enroll(701, "4001")
        legal = await harness.enroll(790, "4900")
        assert ["未答问题", "发布通知"] in legal.messages[-1].keyboard()

        answer = await asker.say("外星人入境怎么处理？")
        since_legal = legal.mark()
        await asker.press(answer, "转法制大队")
        await asker.wait_for(lambda m: "已转交法制大队" in m.text)
        notice = await legal.wait_for(lambda m: "向法制大队提交了新问题" in m.text, since=since_legal, wait=8)
        assert "外星人入境怎么处理？" in notice.text and "王警官" in notice.text

        listing = await legal.say("未答问题")
        assert "外星人入境怎么处理？" in listing.text
        since = legal.mark()
        await legal.press(listing, "1.")
        await legal.wait_for(lambda m: "请输入对该问题的答复" in m.text, since=since)

        since_asker = asker.mark()
        confirm = await legal.say("依照出入境管理法处理，并报告上级。")
        assert confirm.text == "答复已发送给提问民警。"
        delivered = await asker.wait_for(lambda m: "法制大队已答复" in m.text, since=since_asker, wait=8)
        assert "依照出入境管理法处理" in delivered.text

        since = legal.mark()
        await legal.press(confirm, "存为指导意见")
        await legal.wait_for(lambda m: "已存为指导意见" in m.text, since=since)
        assert len(harness.kb.guidance) == 1
        again = await asker.say("外星人入境怎么处理？")
        assert "依照出入境管理法处理" in again.text

    async def test_other_officers_cannot_open_the_queue(self, harness: Harness) -> None:
        """未答问题 is refused to officers outside the legal brigade."""
        await harness.add_officer("4002")
        alice = await harness.enroll(702, "4002")
        reply = await alice.say("/unanswered")
        assert reply.text == "该功能仅限法制大队使用。"


class TestLanguage:
    """Each officer reads the bot in their own language."""

    async def test_switching_to_english(self, harness: Harness) -> None:
        """设置/语言 → English changes replies, citations and the keyboard."""
        await harness.add_officer("5001")
        alice = await harness.enroll(801, "5001")
        menu = await alice.say("设置/语言")
        since = alice.mark()
        await alice.press(menu, "English")
        done = await alice.wait_for(lambda m: True, since=since)
        assert done.text == "Language set to English."
        assert done.keyboard()[0] == ["Ask a law question", "My reminders"]
        reply = await alice.say("取保候审最长多久？")
        assert "《刑事诉讼法》第七十九条 (2018-10-26 version)" in reply.text
        assert harness.kb.asked[-1] == ("取保候审最长多久？", "en")
        help_text = await alice.say("Help")
        assert "Frontline assistant" in help_text.text
        assert "My rights applications: apply for protection" in help_text.text


class TestRestart:
    """A restart in the middle of a conversation loses and repeats nothing."""

    async def test_restart_keeps_conversation_state_and_queued_updates(self, harness: Harness) -> None:
        """The legal officer's half-typed answer and messages sent while down are handled once."""
        await harness.add_officer("6001")
        await harness.add_officer("6900", roles=("legal",), unit="法制大队")
        asker = await harness.enroll(901, "6001")
        legal = await harness.enroll(990, "6900")
        answer = await asker.say("外星人入境怎么处理？")
        await asker.press(answer, "转法制大队")
        await asker.wait_for(lambda m: "已转交法制大队" in m.text)
        await legal.wait_for(lambda m: "新问题" in m.text, wait=8)
        listing = await legal.say("未答问题")
        since = legal.mark()
        await legal.press(listing, "1.")
        await legal.wait_for(lambda m: "请输入对该问题的答复" in m.text, since=since)

        await harness.stop(close_db=True)
        since_legal, since_asker = legal.mark(), asker.mark()
        legal.send("按规定处理。")
        asker.send("取保候审最长多久？")
        await asyncio.sleep(0.2)
        assert legal.mark() == since_legal  # nobody answers while the bot is down
        await harness.start()

        await legal.wait_for(lambda m: m.text == "答复已发送给提问民警。", since=since_legal)
        await asker.wait_for(lambda m: "按规定处理。" in m.text, since=since_asker, wait=8)
        await asker.wait_for(lambda m: "第七十九条" in m.text, since=since_asker)
        await harness.server.wait_idle(quiet=0.6)
        assert [m.text for m in legal.messages[since_legal:]] == ["答复已发送给提问民警。"]
        assert len(asker.messages[since_asker:]) == 2
        assert harness.server.pending_updates == 0
