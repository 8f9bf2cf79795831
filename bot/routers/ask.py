"""Free-text questions and the buttons under answers. Included last: it takes any text left."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import (
    REMINDERS,
    AnswerAction,
    MenuLabel,
    answer_buttons,
    answer_referral_button,
    no_basis_buttons,
    related_full_button,
)
from bot.middlewares import Enrolled, FloodControl, FloodMiddleware
from bot.notify import push
from bot.render import answer_blocks, esc, fold, opening, pack, related_text, render_answer, unconfirmed_block
from bot.services import CitationLike, FeedbackLike, KnowledgeBaseLike
from core.identity import Officer

log = logging.getLogger(__name__)

MAX_QUESTION = 2000
KEPT_ANSWERS = 20
TYPING_AFTER = 0.3  # seconds of searching before "typing…" is shown


_background: set[asyncio.Task[Any]] = set()


def _show_typing(message: Message) -> None:
    """Shows "typing…" while the knowledge base searches, without making the officer wait for it."""

    def finished(task: asyncio.Task[Any]) -> None:
        _background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("sendChatAction failed: %s", task.exception())

    task = asyncio.create_task(message.bot.send_chat_action(message.chat.id, "typing"))  # type: ignore[union-attr]  # bound by aiogram
    _background.add(task)
    task.add_done_callback(finished)


async def _asked(state: FSMContext) -> dict[str, Any]:
    """Returns the kept answers (callback data holds only 64 bytes, so buttons carry a token)."""
    data = await state.get_data()
    return dict(data.get("asked") or {})


async def _keep(state: FSMContext, asked: dict[str, Any]) -> None:
    """Stores the kept answers, forgetting the oldest beyond KEPT_ANSWERS."""
    while len(asked) > KEPT_ANSWERS:
        asked.pop(next(iter(asked)))
    await state.update_data(asked=asked)


async def _remember(state: FSMContext, token: str, record: dict[str, Any]) -> None:
    """Keeps what the buttons of one answer need."""
    asked = await _asked(state)
    asked[token] = record
    await _keep(state, asked)


async def _recall(state: FSMContext, token: str) -> dict[str, Any] | None:
    asked = (await state.get_data()).get("asked") or {}
    record = asked.get(token)
    return dict(record) if isinstance(record, dict) else None


async def reminders_unavailable(message: Message) -> None:
    """Answers the reminders button when the reminders feature is not installed."""
    await message.answer(_("Reminders are not available yet."))


async def unknown_command(message: Message) -> None:
    """Answers a command the bot does not know."""
    await message.answer(_("Unknown command. Send /help to see what I can do."))


async def not_text(message: Message) -> None:
    """Asks for text when a photo, sticker or file arrives."""
    await message.answer(_("Please send your question as text."))


async def ask(
    message: Message,
    officer: Officer,
    state: FSMContext,
    session: AsyncSession,
    kb: KnowledgeBaseLike,
    feedback: FeedbackLike,
    i18n: I18n,
) -> None:
    """Answers a legal question with quoted articles and buttons."""
    question = (message.text or "").strip()
    if len(question) < 2:
        await message.answer(_("Please type a whole question."))
        return
    if len(question) > MAX_QUESTION:
        await message.answer(
            _("Your question is too long ({n} characters). Please shorten it to {limit}.").format(
                n=len(question), limit=MAX_QUESTION
            )
        )
        return
    searching = asyncio.ensure_future(asyncio.to_thread(kb.ask, question, language=officer.language))
    # "typing…" only when the officer would notice the wait: each one is a Bot API request, and
    # under load a needless one per question slows every other officer's reply.
    done, _pending = await asyncio.wait({searching}, timeout=TYPING_AFTER)
    if not done:
        _show_typing(message)
    answer = await searching
    token = secrets.token_hex(4)
    cited = [c.record_id for c in answer.citations]
    chunks, folded = render_answer(answer, _)
    if answer.grounded or answer.likely:
        # a likely answer (marked as not confirmed) is read, rated and opened in full as an answer is
        buttons = answer_buttons(token, i18n, grounded=True, folded=folded)
    else:
        buttons = no_basis_buttons(token, i18n, candidates=bool(answer.related))
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        await message.answer(chunk, reply_markup=buttons if last else None)
    # Writes come after the reply: on SQLite the first write takes the database's one write lock
    # until the update commits, and no officer should wait for another one's network round trip.
    # Reads go first for the same reason. A button pressed meanwhile waits for this update to
    # finish (events are isolated per user).
    asked = await _asked(state)
    asked[token] = {
        "q": question,
        "a": opening(answer) if answer.grounded or answer.likely else "",
        "parts": len(chunks),
        "grounded": answer.grounded,
        "likely": answer.likely,
        "cites": cited,
        "rel": [c.record_id for c in answer.related],
    }
    await feedback.record_question_asked(
        session=session, officer_id=officer.id, question=question, grounded=answer.grounded, record_ids=cited
    )
    await _keep(state, asked)


async def _citations(kb: KnowledgeBaseLike, record_ids: list[str]) -> list[CitationLike]:
    def load() -> list[CitationLike]:
        found = [kb.get(record_id) for record_id in record_ids]
        return [citation for citation in found if citation is not None]

    return await asyncio.to_thread(load)


async def answer_button(
    query: CallbackQuery,
    callback_data: AnswerAction,
    officer: Officer,
    state: FSMContext,
    session: AsyncSession,
    kb: KnowledgeBaseLike,
    feedback: FeedbackLike,
    i18n: I18n,
    bot: Bot,
) -> None:
    """Handles 👍/👎, related provisions, referral and show-full-text."""
    record = await _recall(state, callback_data.token)
    if record is None:
        await query.answer(_("This answer is too old. Please ask the question again."), show_alert=True)
        return
    action = callback_data.action
    chat_id = query.message.chat.id if query.message is not None else officer.telegram_user_id
    if action in ("up", "down"):
        await feedback.record_feedback(
            session=session,
            officer_id=officer.id,
            question=record["q"],
            helpful=action == "up",
            record_ids=list(record.get("cites") or []),
        )
        await query.answer(_("Thank you for your feedback."))
    elif action in ("rel", "relfull"):
        await query.answer()
        related = await _citations(kb, list(record.get("rel") or []))
        if not related and record.get("cites"):
            related = list(await asyncio.to_thread(kb.related, record["cites"][0]))
        chunks, folded = related_text(related, _, expanded=action == "relfull")
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            # a folded quote always offers its full text (展开全文), here as under an answer
            markup = related_full_button(callback_data.token, i18n) if last and folded else None
            await bot.send_message(chat_id, chunk, reply_markup=markup)  # type: ignore[arg-type]  # an enrolled officer has a chat
    elif action == "ref":
        await _refer(query, record, callback_data.token, officer, state, session, feedback, i18n, bot)
    elif action == "full":
        await query.answer()
        await _expand(query, record, kb, i18n, bot, callback_data.token)
    else:
        await query.answer()


async def _refer(
    query: CallbackQuery,
    record: dict[str, Any],
    token: str,
    officer: Officer,
    state: FSMContext,
    session: AsyncSession,
    feedback: FeedbackLike,
    i18n: I18n,
    bot: Bot,
) -> None:
    """Puts the question in the legal brigade's queue and tells the legal officers."""
    if record.get("referred"):
        await query.answer(_("Already referred to the legal brigade."), show_alert=True)
        return
    referred = await feedback.refer_question(session=session, officer_id=officer.id, question=record["q"])
    record["referred"] = referred.id
    await _remember(state, token, record)
    await query.answer(_("Referred to the legal brigade."))
    if query.message is not None:
        await bot.send_message(
            query.message.chat.id,
            _("Your question was referred to the legal brigade. Their answer will come to this chat."),
        )
    # the legal brigade of the asker's own unit chain, not every legal officer in the force
    legal_officers = await feedback.legal_officers_for(session=session, officer=officer)
    shown, _cut = fold(record["q"], 500)
    for legal in legal_officers:
        locale = legal.language if legal.language in i18n.available_locales else i18n.default_locale
        text = i18n.gettext("New question for the legal brigade from {name} ({unit}):", locale=locale).format(
            name=esc(officer.name), unit=esc(officer.unit.name)
        )
        await push(
            session=session,
            officer=legal,
            text=f"📨 {text}\n<blockquote>{esc(shown)}</blockquote>",
            kind="legal.referral",
            dedupe_key=f"referral:{referred.id}:{legal.id}",
            buttons=answer_referral_button(referred.id, i18n, locale),
        )


async def _expand(
    query: CallbackQuery, record: dict[str, Any], kb: KnowledgeBaseLike, i18n: I18n, bot: Bot, token: str
) -> None:
    """Shows an answer with its articles unfolded: edits the message, sending any overflow after it."""
    citations = await _citations(kb, list(record.get("cites") or []))
    blocks, _folded = answer_blocks(record["q"], record.get("a") or "", citations, _, expanded=True)
    if record.get("likely"):
        blocks.insert(1, unconfirmed_block(_))
    chunks = pack(blocks)
    buttons = answer_buttons(token, i18n, grounded=True, folded=False)
    message = query.message
    if message is None:
        return
    chat_id = message.chat.id
    if record.get("parts", 1) > 1:
        # The answer already spans several messages; the full text follows as new ones.
        for index, chunk in enumerate(chunks):
            await bot.send_message(chat_id, chunk, reply_markup=buttons if index == len(chunks) - 1 else None)
        return
    try:
        await bot.edit_message_text(
            chunks[0],
            chat_id=chat_id,
            message_id=message.message_id,
            reply_markup=buttons if len(chunks) == 1 else None,
        )
    except TelegramBadRequest as exc:
        # "message is not modified" when pressed twice; anything else: show the text anew.
        if "not modified" in str(exc):
            return
        await bot.send_message(chat_id, chunks[0], reply_markup=buttons if len(chunks) == 1 else None)
    for index, chunk in enumerate(chunks[1:], start=1):
        await bot.send_message(chat_id, chunk, reply_markup=buttons if index == len(chunks) - 1 else None)


def create_router(flood: FloodControl | None = None) -> Router:
    """Builds the question router (a new one per application), with the flood limit on questions."""
    router = Router(name="ask")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    questions = Router(name="ask.questions")
    if flood is not None:
        questions.message.middleware(FloodMiddleware(flood))
    router.include_router(questions)
    router.message.register(reminders_unavailable, MenuLabel(REMINDERS))
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(not_text, ~F.text)
    questions.message.register(ask, F.text)
    router.callback_query.register(answer_button, AnswerAction.filter())
    return router
