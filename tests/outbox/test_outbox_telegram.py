"""The Telegram messenger against the fake Bot API over real HTTP: errors become outbox exceptions."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from fakebotapi import FakeBotAPI
from outbox_helpers import push

from bot.messenger import BadBotToken, TelegramMessenger, make_bot, telegram_messenger
from core.outbox import (
    DeliveryOptions,
    Media,
    Outgoing,
    PermanentSendError,
    RetryAfter,
    SendError,
    TransientSendError,
    Unreachable,
    deliver_once,
)
from core.settings import Settings, load_settings


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """A fake Bot API on 127.0.0.1."""
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def api_settings(outbox_settings: Settings, api: FakeBotAPI) -> Settings:
    """Settings pointing the bot at the fake server."""
    return with_bot(outbox_settings, api.token, api.base_url)


def with_bot(settings: Settings, token: str, base_url: str) -> Settings:
    """Copies settings with a bot token and Bot API address, validated like real configuration."""
    return load_settings(
        data_dir=settings.data_dir,
        quiet_hours=settings.quiet_hours,
        bot_token=token,
        telegram_api_base=base_url,
        _env_file=None,
    )


@pytest.fixture
async def messenger_http(api_settings: Settings) -> AsyncIterator[TelegramMessenger]:
    """The real TelegramMessenger over a real aiogram Bot."""
    async with telegram_messenger(api_settings) as messenger:
        yield messenger


class TestTelegramMessenger:
    async def test_sends_text_with_an_inline_keyboard(
        self, api: FakeBotAPI, messenger_http: TelegramMessenger
    ):
        """Buttons become an inline keyboard; the message id Telegram assigned comes back."""
        buttons = [
            [{"text": "已处理", "callback_data": "done:1"}],
            [{"text": "法条", "url": "https://example.org"}],
        ]
        message_id = await messenger_http.send(
            chat_id=77, message=Outgoing(text="<b>提醒</b>", parse_mode="HTML", buttons=buttons)
        )
        sent = api.messages_to(77)
        assert [m.message_id for m in sent] == [message_id]
        assert sent[0].text == "<b>提醒</b>"
        assert sent[0].parse_mode == "HTML"
        assert [[(b.text, b.callback_data, b.url) for b in row] for row in sent[0].buttons()] == [
            [("已处理", "done:1", None)],
            [("法条", None, "https://example.org")],
        ]

    async def test_sends_one_photo_with_its_caption_and_buttons(
        self, api: FakeBotAPI, messenger_http: TelegramMessenger
    ):
        """A single media item goes out as that kind of message, the text as its caption."""
        buttons = [[{"text": "已阅", "callback_data": "ack:1"}]]
        message = Outgoing("现场照片", None, buttons, media=(Media("photo", file_id="AgAD-photo"),))
        message_id = await messenger_http.send(chat_id=77, message=message)
        sent = api.messages_to(77)
        assert [(m.message_id, m.kind, m.text, m.file) for m in sent] == [
            (message_id, "photo", "现场照片", "AgAD-photo")
        ]
        assert sent[0].button("已阅").callback_data == "ack:1"

    async def test_uploads_a_local_document(
        self, api: FakeBotAPI, messenger_http: TelegramMessenger, tmp_path
    ):
        """A media item given by path is uploaded with its file name."""
        path = tmp_path / "通报.pdf"
        path.write_bytes(b"%PDF-1.4 test")
        message = Outgoing("", None, media=(Media("document", path=str(path), filename="通报.pdf"),))
        await messenger_http.send(chat_id=77, message=message)
        sent = api.messages_to(77)[-1]
        assert (sent.kind, sent.file) == ("document", {"filename": "通报.pdf", "size": 13})

    async def test_sends_several_items_as_an_album(self, api: FakeBotAPI, messenger_http: TelegramMessenger):
        """Several photos and videos are one media group; the id of its first message comes back."""
        media = (Media("photo", file_id="p1"), Media("video", file_id="v1"), Media("photo", file_id="p2"))
        first = await messenger_http.send(chat_id=77, message=Outgoing("证据", None, media=media))
        sent = api.messages_to(77)
        assert [(m.kind, m.file) for m in sent] == [("photo", "p1"), ("video", "v1"), ("photo", "p2")]
        assert sent[0].message_id == first
        assert [m.text for m in sent] == ["证据", "", ""]

    async def test_edits_a_message_in_place(self, api: FakeBotAPI, messenger_http: TelegramMessenger):
        """An edit changes the earlier message; an edit that changes nothing is not an error."""
        first = await messenger_http.send(chat_id=77, message=Outgoing("已发送 1/10", None))
        edit = Outgoing("已发送 5/10", None, edit_message_id=first)
        assert await messenger_http.send(chat_id=77, message=edit) == first
        assert await messenger_http.send(chat_id=77, message=edit) == first
        sent = api.messages_to(77)
        assert [(m.message_id, m.text, m.edits) for m in sent] == [(first, "已发送 5/10", 1)]

    async def test_a_vanished_file_is_a_permanent_error(
        self, messenger_http: TelegramMessenger, tmp_path
    ):
        """A local file removed before delivery cannot be sent by retrying."""
        message = Outgoing("", None, media=(Media("document", path=str(tmp_path / "gone.pdf")),))
        with pytest.raises(PermanentSendError, match="gone"):
            await messenger_http.send(chat_id=77, message=message)

    @pytest.mark.parametrize(
        ("code", "description", "retry_after", "expected"),
        [
            (429, "Too Many Requests: retry after 5", 5, RetryAfter),
            (403, "Forbidden: bot was blocked by the user", None, Unreachable),
            (400, "Bad Request: chat not found", None, Unreachable),
            (400, "Bad Request: can't parse entities: unclosed tag", None, PermanentSendError),
            (500, "Internal Server Error", None, TransientSendError),
            (502, "Bad Gateway", None, TransientSendError),
        ],
    )
    async def test_maps_bot_api_errors_to_outbox_errors(
        self, api: FakeBotAPI, messenger_http: TelegramMessenger, code, description, retry_after, expected
    ):
        """Each Bot API failure is reported in the outbox's terms, with Telegram's reason."""
        api.fail_next("sendMessage", code, description, retry_after)
        with pytest.raises(expected) as caught:
            await messenger_http.send(chat_id=77, message=Outgoing("x", None))
        assert isinstance(caught.value, SendError)
        if expected is RetryAfter:
            assert caught.value.seconds == 5  # type: ignore[attr-defined]  # narrowed by the parameter
        else:
            assert description.split(":")[0] in caught.value.reason

    async def test_an_unreachable_server_is_a_transient_error(self, outbox_settings: Settings):
        """Connection refused means try later, not give up."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = with_bot(outbox_settings, "1:x", f"http://127.0.0.1:{port}")
        bot = make_bot(settings, request_timeout=2)
        try:
            with pytest.raises(TransientSendError):
                await TelegramMessenger(bot).send(chat_id=1, message=Outgoing("x", None))
        finally:
            await bot.session.close()

    async def test_a_refused_token_stops_the_worker_at_start(self, api_settings: Settings):
        """A wrong token is found at start-up with one clear line, not after hours of retries."""
        wrong = with_bot(api_settings, "999:wrong", api_settings.telegram_api_base)
        with pytest.raises(BadBotToken, match="refused"):
            async with telegram_messenger(wrong):
                pass

    def test_no_token_no_bot(self, outbox_settings: Settings):
        """The worker cannot start without FRONTLINE_BOT_TOKEN."""
        with pytest.raises(BadBotToken, match="FRONTLINE_BOT_TOKEN"):
            make_bot(outbox_settings)


class TestDeliveryOverHttp:
    async def test_delivers_a_batch_through_aiogram_within_the_fake_limits(
        self, db, add_officer, api_settings: Settings, messenger_http: TelegramMessenger, api: FakeBotAPI
    ):
        """Rows go out through the real adapter; the rate-limited fake answers no 429."""
        api.rate_per_second, api.per_chat_per_second = 30, 1
        officers = [await add_officer(f"5{i:03d}", chat=700 + i) for i in range(6)]
        for i in range(12):
            await push(db, officers[i % 6], f"k{i}", text=f"消息{i}")
        settings = api_settings
        report = await deliver_once(
            sessions=db,
            messenger=messenger_http,
            settings=settings,
            options=DeliveryOptions(max_pacing_wait=1.5),
        )
        assert report.sent == 12
        assert api.rejected_429 == 0
        assert sorted(m.text for chat in range(700, 706) for m in api.messages_to(chat)) == sorted(
            f"消息{i}" for i in range(12)
        )
