"""What officers and the sender read: the tip within Telegram's limits, and the status message."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from broadcasts.articles import ArticleQuote
from broadcasts.figures import Figures
from broadcasts.render import (
    StatusView,
    Tip,
    TipTooLong,
    ack_buttons,
    check_tip,
    render_status,
    render_tip,
    render_unacknowledged,
    status_buttons,
)
from core.outbox import MAX_CAPTION_LENGTH, check_buttons, visible_length

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
ARTICLE = ArticleQuote(
    law="刑事诉讼法", article="第七十九条", version="2018-10-26", text="第七十九条 " + "取保候审最长不得超过十二个月。" * 3
)


def _tip(**kwargs: object) -> Tip:
    values: dict[str, object] = {
        "text": "嫌疑人<张某>醉驾 & 拒检，注意执法记录仪全程记录。",
        "sender_name": "李法制",
        "sender_unit": "法制大队",
        "sent_at": AT,
    }
    values.update(kwargs)
    return Tip(**values)  # type: ignore[arg-type]  # test pass-through


class TestTip:
    def test_the_tip_is_escaped_headed_signed_and_dated_in_local_time(self) -> None:
        """HTML in the text is shown as text; the footer names the sender and the local time."""
        text = render_tip(_tip(), "zh", TZ)
        assert text.startswith("📢 <b>风险提示</b>\n\n嫌疑人&lt;张某&gt;醉驾 &amp; 拒检")
        assert text.endswith("<i>— 法制大队 李法制 · 2026-12-01 10:30</i>")

    def test_urgent_and_reminder_headings(self) -> None:
        """An urgent tip says so first; a reminder round puts its own line above."""
        assert render_tip(_tip(urgent=True), "en", TZ).startswith("🚨 <b>Urgent risk tip</b>")
        reminder = render_tip(_tip(), "en", TZ, reminder=2)
        assert reminder.startswith("🔔 <b>Reminder 2: please read this tip and press Acknowledge.</b>\n📢")

    def test_articles_are_quoted_with_version_and_superseded_ones_are_marked(self) -> None:
        """Each linked article: its heading with the version, a note when superseded, the text in a quote."""
        old = ArticleQuote(law="治安管理处罚法", article="第八十三条", version="2012-10-26", text="第八十三条 ……",
                           superseded_by="治安管理处罚法（2025修订）")
        text = render_tip(_tip(articles=(ARTICLE, old)), "zh", TZ)
        assert "📖 <b>《刑事诉讼法》第七十九条（2018-10-26版）</b>" in text
        assert "<blockquote expandable>第七十九条 取保候审" in text
        assert "📖 <b>《治安管理处罚法》第八十三条（2012-10-26版）</b>\n⚠️ <i>已被修订，现行：治安管理处罚法（2025修订）</i>" in text

    def test_long_quotes_are_shortened_to_fit_a_caption(self) -> None:
        """With a photo the tip must fit 1,024 characters: long quotes are cut before the tip is refused."""
        long_article = ArticleQuote(law="刑法", article="第一条", version="2023-12-29", text="条" * 3000)
        text = render_tip(_tip(has_media=True, articles=(long_article,)), "zh", TZ)
        assert visible_length(text, "HTML") <= MAX_CAPTION_LENGTH
        assert "《刑法》第一条" in text and "…" in text

    def test_a_tip_that_cannot_fit_is_refused_with_the_excess(self) -> None:
        """The check runs in every language and as a reminder, and says how many characters to cut."""
        with pytest.raises(TipTooLong) as caught:
            check_tip(_tip(text="字" * 1000, has_media=True), TZ)
        assert caught.value.limit == MAX_CAPTION_LENGTH and caught.value.excess > 0
        check_tip(_tip(text="字" * 900, has_media=True), TZ)

    def test_the_acknowledge_button_packs_like_the_bot_reads_it(self) -> None:
        """bca:{id}, in the reader's language, a valid outbox keyboard."""
        buttons = ack_buttons(42, "zh")
        assert buttons == [[{"text": "✅ 已阅", "callback_data": "bca:42"}]]
        assert check_buttons(buttons) == buttons


def _view(status: str = "sending", **figures: int) -> StatusView:
    return StatusView(
        broadcast_id=7,
        status=status,
        text="雨天路滑\n第二行",
        audience="城关分局（含下级单位）",
        urgent=False,
        send_at=AT,
        figures=Figures(broadcast_id=7, **figures),
        reminder_rounds=1,
        max_reminders=3,
    )


class TestStatus:
    def test_the_status_shows_every_figure(self) -> None:
        """Recipients, delivered, acknowledged with its share, unreachable, pending (and who awaits enrollment)."""
        view = _view(recipients=100, sent=80, acknowledged=20, unreachable=2, pending=18, awaiting_enrollment=3)
        text = render_status(view, "zh", TZ, AT)
        for part in ("第7号通知", "发送中", "雨天路滑", "收件人：100", "已送达：80", "已阅：20（占已送达25%）",
                     "无法送达：2", "待发送：18（其中3人尚未绑定", "提醒轮次：1/3", "更新于10:30:00"):
            assert part in text, part

    def test_buttons_follow_what_can_still_be_done(self) -> None:
        """Cancel only while something is pending, remind only while someone reached has not acknowledged."""
        sending = [b["callback_data"] for row in status_buttons(_view(sent=5, acknowledged=1, pending=3), "en") for b in row]
        assert sending == ["bcs:units:7", "bcs:unread:7", "bcs:remind:7", "bcs:cancel:7", "bcs:refresh:7"]
        done = [b["callback_data"] for row in status_buttons(_view("sent", sent=5, acknowledged=5), "en") for b in row]
        assert done == ["bcs:units:7", "bcs:unread:7", "bcs:refresh:7"]
        scheduled = status_buttons(_view("scheduled", pending=5), "en")
        assert scheduled == [[{"text": "✖ Cancel this tip", "callback_data": "bcs:cancel:7"}]]

    def test_the_unacknowledged_are_listed_by_unit_with_what_became_of_their_tip(self) -> None:
        """Grouped by unit; officers whose tip has not arrived say why; a long list says how many more."""
        people = [("东关派出所", "B2", "赵二", "delivered"), ("城关派出所", "A4", "王四", "not_enrolled")]
        text = render_unacknowledged(7, people, 5, "zh")
        assert "<b>东关派出所</b>\n• 赵二 B2" in text and "• 王四 A4 <i>(未绑定)</i>" in text
        assert text.endswith("……另有3项。")
        assert render_unacknowledged(7, [], 0, "zh") == "第7号通知已全部确认阅读。"
