"""The real bundled knowledge base through the real bot: what an officer reads on the phone."""

from __future__ import annotations

import pytest

from bot.render import html_to_plain
from core import identity
from tests.e2e.conftest import Harness, SimUser

pytestmark = pytest.mark.slow  # the bundled knowledge base opens once per session (~10 s)


async def _officer(harness: Harness, badge: str, user_id: int, **kwargs: object) -> SimUser:
    await harness.add_officer(badge, **kwargs)  # type: ignore[arg-type]
    return await harness.enroll(user_id, badge)


def _first_lines(text: str) -> str:
    """The answer's opening, as plain text: after the question, before the first quoted source."""
    plain = html_to_plain(text)
    opening = plain.split("📖")[0].split("📘")[0]
    return opening.split("\n", 1)[1] if opening.startswith("❓") else opening


class TestAnswersFromTheBundledLaw:
    async def test_the_length_of_criminal_detention_comes_from_the_criminal_law(self, real_harness: Harness) -> None:
        """拘役最长多久 → 《刑法》第四十二条 (one to six months), not the bail limit of 刑事诉讼法第七十九条."""
        alice = await _officer(real_harness, "7001", 7001)
        reply = await alice.say("拘役最长多久？", wait=15)
        opening = _first_lines(reply.text)
        assert "《刑法》第四十二条" in opening and "一个月以上六个月以下" in opening
        assert "第七十九条" not in opening

    async def test_drunk_driving_leads_with_its_own_paragraph(self, real_harness: Harness) -> None:
        """醉酒驾驶机动车怎么处理 → 第二款 (约束至酒醒, 五年内不得重新取得), not the accident paragraph."""
        alice = await _officer(real_harness, "7002", 7002)
        reply = await alice.say("醉酒驾驶机动车怎么处理？", wait=15)
        opening = _first_lines(reply.text)
        assert "第九十一条第二款" in opening and "约束至酒醒" in opening and "五年内不得重新取得" in opening
        assert "终生" not in opening

    async def test_questioning_is_answered_from_the_2025_law_with_every_tier(self, real_harness: Harness) -> None:
        """询问查证 today: 8 / 12 / 24 hours from the 2025 text; guidance, when it leads, is labelled as guidance."""
        alice = await _officer(real_harness, "7003", 7003)
        reply = await alice.say("治安案件传唤后询问查证最长多长时间？", wait=15)
        opening = _first_lines(reply.text)
        assert all(tier in opening for tier in ("八小时", "十二小时", "二十四小时"))
        assert "2025-06-27" in reply.text and "2012-10-26" not in reply.text
        assert opening.startswith(("根据《治安管理处罚法》第九十七条", "法制大队指引《办案期限提示》"))

    async def test_an_exact_reference_is_the_text_in_force_with_a_note_on_the_old_number(
        self, real_harness: Harness
    ) -> None:
        """治安法第83条 → the 2025 article (罂粟), and a note that the 2012 第八十三条 is now 第九十七条."""
        alice = await _officer(real_harness, "7004", 7004)
        reply = await alice.say("治安法第83条", wait=15)
        assert "罂粟" in reply.text
        assert "2012-10-26" in reply.text and "第九十七条" in reply.text

    async def test_related_provisions_fold_and_open_in_full(self, real_harness: Harness) -> None:
        """相关条文 lists short names and quotes; a folded quote offers 展开全文, which shows it whole."""
        alice = await _officer(real_harness, "7005", 7005)
        reply = await alice.say("警察在什么情况下可以查验居民身份证？", wait=15)
        assert "《居民身份证法》第十五条" in reply.text
        since = alice.mark()
        await alice.press(reply, "相关条文")
        related = await alice.wait_for(lambda m: "相关条文" in m.text, since=since, wait=10)
        if related.buttons():
            since = alice.mark()
            await alice.press(related, "展开全文")
            full = await alice.wait_for(lambda m: "相关条文" in m.text, since=since, wait=10)
            assert "…" not in full.text.replace("……", "")


class TestTheReadmeExamples:
    async def test_being_shoved_is_answered_with_what_counts_as_a_violent_attack(self, real_harness: Harness) -> None:
        """被人推搡算不算袭警 → a grounded answer on the 袭警 interpretation's 暴力袭击, with the feedback buttons."""
        alice = await _officer(real_harness, "7006", 7006)
        reply = await alice.say("被人推搡算不算袭警？", wait=15)
        opening = _first_lines(reply.text)
        assert opening.startswith(("根据《袭警解释》第一条", "法制大队指引《民警执法权益保护指引》"))
        assert "暴力袭击" in opening
        assert "未找到该问题的法律依据" not in reply.text
        assert reply.button("相关条文") and reply.button("👍")

    async def test_the_bail_limit_opens_with_the_deadline_guidance(self, real_harness: Harness) -> None:
        """取保候审最长多久 → 法制大队指引《办案期限提示》 (twelve months), then 《刑事诉讼法》第七十九条, as README shows."""
        alice = await _officer(real_harness, "7007", 7007)
        reply = await alice.say("取保候审最长多久？", wait=15)
        opening = _first_lines(reply.text)
        assert opening.startswith("法制大队指引《办案期限提示》取保候审和监视居住")
        assert "取保候审最长不得超过十二个月" in opening
        assert "《刑事诉讼法》第七十九条" in reply.text


class TestGuidanceAndLikelyAnswers:
    async def test_an_injured_officer_reads_the_rights_guidance_with_the_articles_it_cites(
        self, real_harness: Harness
    ) -> None:
        """执行职务时被人打伤了可以申请什么保护 → grounded on the 民警执法权益保护指引 section with its lead and the
        articles it cites; 相关条文 names only articles that guidance cites; 转法制大队 stays one tap away."""
        alice = await _officer(real_harness, "7008", 7008)
        reply = await alice.say("执行职务时被人打伤了可以申请什么保护？", wait=15)
        plain = html_to_plain(reply.text)
        assert "法制大队指引《民警执法权益保护指引》受到侵害可以申请哪些保护" in plain
        assert "附带民事诉讼" in plain
        assert "未找到该问题的法律依据" not in plain
        assert reply.button("转法制大队")
        assert "未经确认" not in plain
        related = next(line for line in plain.splitlines() if line.startswith("相关条文"))
        assert "人民警察法" in related
        assert "第三十四条" not in related and "督察条例" not in related and "第一百九十二条" not in related
        if any("展开全文" in b.text for row in reply.buttons() for b in row):
            edits = reply.edits
            await alice.press(reply, "展开全文")
            await real_harness.server.wait_idle(timeout=10)
            assert reply.edits > edits  # the answer is edited in place, in full
            assert "未经确认" not in html_to_plain(reply.text)


    async def test_a_likely_answer_opened_in_full_stays_marked_as_not_confirmed(self, real_harness: Harness) -> None:
        """讯问未成年嫌疑人时家长必须到场吗 (judged likely, its article folded): 展开全文 edits the answer in
        full and the not-confirmed line stays above the lead."""
        alice = await _officer(real_harness, "7009", 7009)
        reply = await alice.say("讯问未成年嫌疑人时家长必须到场吗？", wait=15)
        plain = html_to_plain(reply.text)
        assert "未经确认" in plain and "《刑事诉讼法》第二百八十一条" in plain
        edits = reply.edits
        await alice.press(reply, "展开全文")
        await real_harness.server.wait_idle(timeout=10)
        assert reply.edits > edits
        full = html_to_plain(reply.text)
        assert full.index("未经确认") < full.index("根据《刑事诉讼法》第二百八十一条")
        assert "展开全文" not in str(reply.buttons())


class TestEnglishAnswers:
    async def test_an_english_officer_reads_a_grounded_answer_and_a_likely_one(self, real_harness: Harness) -> None:
        """In English: the family-notification limit is grounded on 《刑事诉讼法》第八十五条 (no not-confirmed line);
        the arrest-request question is shown from 第九十一条 and the criminal-detention one from 《刑法》第四十二条
        (it was "no basis"), both marked as not confirmed."""
        bob = await _officer(real_harness, "7201", 7201, language="en")
        reply = await bob.say("How soon after detention must the family be notified?", wait=15)
        opening = _first_lines(reply.text)
        assert "《刑事诉讼法》第八十五条" in opening and "二十四小时" in opening
        assert "Not confirmed" not in html_to_plain(reply.text)
        reply = await bob.say("How long can a suspect be held after criminal detention before arrest request?", wait=15)
        plain = html_to_plain(reply.text)
        assert "Not confirmed" in plain and "《刑事诉讼法》第九十一条" in plain
        assert plain.index("Not confirmed") < plain.index("《刑事诉讼法》第九十一条")
        reply = await bob.say("What is the maximum period of criminal detention?", wait=15)
        plain = html_to_plain(reply.text)
        assert "Not confirmed" in plain and "《刑法》第四十二条" in plain and "一个月以上六个月以下" in plain
        assert plain.index("Not confirmed") < plain.index("《刑法》第四十二条")


class TestNoBasisAndReferral:
    async def test_a_question_without_basis_goes_to_the_askers_own_legal_brigade(self, real_harness: Harness) -> None:
        """No basis: said plainly; 转法制大队 reaches the asker's bureau's 法制大队 only."""
        async with real_harness.session() as session:
            for name, parent in (("城关分局", None), ("城关派出所", "城关分局"), ("城关法制大队", "城关分局"),
                                 ("东区分局", None), ("东区法制大队", "东区分局")):
                await identity.add_unit(session=session, name=name, parent=parent)
        asker = await _officer(real_harness, "7101", 7101, unit="城关派出所")
        own = await _officer(real_harness, "7102", 7102, unit="城关法制大队", roles=("legal",))
        other = await _officer(real_harness, "7103", 7103, unit="东区法制大队", roles=("legal",))
        reply = await asker.say("登记结婚需要带哪些材料？", wait=15)
        assert "未找到该问题的法律依据" in reply.text
        since_own, since_other = own.mark(), other.mark()
        await asker.press(reply, "转法制大队")
        notice = await own.wait_for(lambda m: "登记结婚需要带哪些材料" in m.text, since=since_own, wait=10)
        assert "法制大队" in notice.text
        assert not [m for m in other.messages[since_other:] if "登记结婚" in m.text]
