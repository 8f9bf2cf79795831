"""我的维权: apply for protection from the scene, follow the application, answer the office, withdraw.

The form is an FSM (type → when → where → what happened → people → evidence → help wanted →
summary) whose draft lives in the conversation state, so it survives a restart; every field can
be changed from the summary, and 🗑 (or /cancel) drops it. Evidence is downloaded into the
evidence store as it arrives, through :class:`TelegramFetcher` (the domain's fetcher protocol);
a file the Bot API will not hand over is kept as a reference and the officer is told.
"""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyboards import RIGHTS, MenuLabel, main_menu
from bot.middlewares import Enrolled
from core.db import utcnow
from core.identity import Officer
from core.settings import Settings
from rights import service
from rights.access import RightsError, RightsForbidden
from rights.dates import parse_when
from rights.evidence import TOO_BIG, EvidenceItem, FileTooBig, FileUnavailable, fetch_into_store
from rights.law import render_law
from rights.models import RightsApplication, Status
from rights.notify import APPLICANT_PREFIX
from rights.render import applicant_card, draft_summary, esc, next_step, status_line
from rights.service import MAX_EVIDENCE, MAX_TEXT, Draft
from rights.views import load_view
from rights.vocab import HELP, KINDS, TYPES

log = logging.getLogger(__name__)

DRAFT = "rights_draft"
EDITING = "rights_editing"
REPLY = "rights_reply"
LIST_LIMIT = 10
WITHDRAWABLE = (Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING, Status.WAITING)


class FormAction(CallbackData, prefix="wqf"):
    """A button of the application form."""

    action: str  # new | continue | type | when | skip | done | help | submit | edit | cancel | clear
    arg: str = ""


class ApplicantAction(CallbackData, prefix=APPLICANT_PREFIX):
    """A button under an application or a push to its applicant (rights.notify packs the same)."""

    action: str  # open | reply | send | drop | withdraw | wconfirm | law
    app: int
    arg: str = ""


class RightsForm(StatesGroup):
    """The steps of the application form."""

    type = State()
    when = State()
    when_typed = State()
    where = State()
    what = State()
    people = State()
    evidence = State()
    help = State()
    confirm = State()


class RightsReply(StatesGroup):
    """The applicant is putting together an answer to the office."""

    collecting = State()


FORM_STATES = {state.state for state in RightsForm.__states__}


class TelegramFetcher:
    """The domain's evidence fetcher over the Bot API: getFile, then the download."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def download(self, *, file_id: str, destination: Path) -> None:
        """Downloads a file by its id; FileTooBig when the Bot API refuses it for its size."""
        try:
            file = await self.bot.get_file(file_id)
        except TelegramBadRequest as exc:
            if "too big" in exc.message.lower():
                raise FileTooBig(exc.message) from exc
            raise FileUnavailable(exc.message) from exc
        except TelegramAPIError as exc:
            raise FileUnavailable(exc.message) from exc
        if not file.file_path:
            raise FileUnavailable("the Bot API gave no file path")
        try:
            await self.bot.download_file(file.file_path, destination=destination, timeout=120)
        except Exception as exc:  # network errors of any kind: the item is kept as a reference
            raise FileUnavailable(str(exc)) from exc


# --- reading files out of messages -------------------------------------------------------------


def evidence_of(message: Message) -> EvidenceItem | None:
    """Returns the file a message carries as an evidence item (None for anything else), stamped with the
    time Telegram says it was sent."""
    sent = message.date if message.date.tzinfo is not None else message.date.replace(tzinfo=UTC)
    now = sent.isoformat()
    if message.photo:
        photo = message.photo[-1]  # the largest size
        return EvidenceItem(kind="photo", file_id=photo.file_id, file_unique_id=photo.file_unique_id,
                            declared_size=photo.file_size, received_at=now)
    if message.video:
        video = message.video
        return EvidenceItem(kind="video", file_id=video.file_id, file_unique_id=video.file_unique_id,
                            filename=video.file_name, mime_type=video.mime_type, declared_size=video.file_size,
                            received_at=now)
    if message.voice:
        voice = message.voice
        return EvidenceItem(kind="voice", file_id=voice.file_id, file_unique_id=voice.file_unique_id,
                            mime_type=voice.mime_type, declared_size=voice.file_size, received_at=now)
    if message.document:
        document = message.document
        return EvidenceItem(kind="document", file_id=document.file_id, file_unique_id=document.file_unique_id,
                            filename=document.file_name, mime_type=document.mime_type,
                            declared_size=document.file_size, received_at=now)
    return None


async def take_file(message: Message, bot: Bot, settings: Settings, *, purpose: str = "evidence") -> EvidenceItem | None:
    """Downloads the file of a message into the evidence store (or keeps it as a reference)."""
    found = evidence_of(message)
    if found is None:
        return None
    found.purpose = purpose
    return await fetch_into_store(settings=settings, fetcher=TelegramFetcher(bot), item=found)


def received_text(item: EvidenceItem, count: int) -> str:
    """Acknowledges one file: what it is, how many so far, and whether only a reference is kept."""
    text = _("📎 Received: {kind} ({n}/{max}).").format(kind=_(KINDS[item.kind]), n=count, max=MAX_EVIDENCE)
    if item.reference_reason == TOO_BIG:
        text += "\n" + _(
            "It is too large for the bot to download, so it is kept as a reference only: the office will "
            "still see it in the chat. Keep the original on your phone."
        )
    elif item.reference_reason:
        text += "\n" + _(
            "It could not be downloaded just now; it is kept as a reference and will be tried again when you submit."
        )
    return text


# --- keyboards ---------------------------------------------------------------------------------


def _form(text: str, action: str, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=FormAction(action=action, arg=arg).pack())


def _app(text: str, action: str, app_id: int, arg: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ApplicantAction(action=action, app=app_id, arg=arg).pack())


def cancel_row() -> list[InlineKeyboardButton]:
    """The row that drops the draft."""
    return [_form("🗑 " + _("Cancel the application"), "cancel")]


def type_buttons() -> InlineKeyboardMarkup:
    """The eight types, two per row."""
    buttons = [_form(_(label), "type", code) for code, label in TYPES.items()]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, cancel_row()])


def when_buttons() -> InlineKeyboardMarkup:
    """Just now, earlier today, or type it."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_form(_("Just now"), "when", "now"), _form(_("Earlier today"), "when", "today")],
            [_form("⌨️ " + _("Type the date and time"), "when", "typed")],
            cancel_row(),
        ]
    )


def location_keyboard() -> ReplyKeyboardMarkup:
    """Share the phone's location, or skip."""
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text="📍 " + _("Send my location"), request_location=True)],
            [KeyboardButton(text=_("⏭ Skip this step"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def skip_buttons() -> InlineKeyboardMarkup:
    """Skip an optional step."""
    return InlineKeyboardMarkup(inline_keyboard=[[_form("⏭ " + _("Skip"), "skip")], cancel_row()])


def evidence_buttons(count: int) -> InlineKeyboardMarkup:
    """Done (or no evidence), and clearing what was sent."""
    done = _form("✅ " + _("Done"), "done") if count else _form("⏭ " + _("No evidence"), "done")
    rows = [[done]]
    if count:
        rows.append([_form("🗑 " + _("Remove the files sent so far"), "clear")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def help_buttons(chosen: list[str]) -> InlineKeyboardMarkup:
    """The help an officer can ask for, ticked when chosen."""
    rows = [[_form(("✅ " if code in chosen else "▫️ ") + _(label), "help", code)] for code, label in HELP.items()]
    rows.append([_form("➡️ " + _("Done"), "done")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_buttons() -> InlineKeyboardMarkup:
    """Submit, change any field, or cancel."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_form("📨 " + _("Submit the application"), "submit")],
            [_form("✏️ " + _("Change type"), "edit", "type"), _form("✏️ " + _("Change time"), "edit", "when"),
             _form("✏️ " + _("Change place"), "edit", "where")],
            [_form("✏️ " + _("Change account"), "edit", "what"), _form("✏️ " + _("Change people"), "edit", "people")],
            [_form("✏️ " + _("Add or remove evidence"), "edit", "evidence"), _form("✏️ " + _("Change help wanted"), "edit", "help")],
            cancel_row(),
        ]
    )


def application_buttons(application: RightsApplication) -> InlineKeyboardMarkup:
    """What the applicant can do with an application."""
    rows = []
    if application.status == Status.WAITING:
        rows.append([_app("✍️ " + _("Reply to the office"), "reply", application.id)])
    rows.append([_app("⚖️ " + _("The law that applies"), "law", application.id)])
    if application.status in WITHDRAWABLE:
        rows.append([_app("↩️ " + _("Withdraw the application"), "withdraw", application.id)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


# --- the draft in the conversation state -------------------------------------------------------


async def load_draft(state: FSMContext) -> Draft:
    """Reads the draft from the conversation state."""
    return Draft.from_json((await state.get_data()).get(DRAFT))


async def save_draft(state: FSMContext, draft: Draft) -> None:
    """Writes the draft back to the conversation state."""
    await state.update_data({DRAFT: draft.to_json()})


async def _answer(event: Message | CallbackQuery, text: str, markup: Any = None) -> None:
    target = event if isinstance(event, Message) else event.message
    if isinstance(target, Message):
        await target.answer(text, reply_markup=markup)


async def ask_step(
    event: Message | CallbackQuery, state: FSMContext, step: State, officer: Officer, i18n: I18n, settings: Settings
) -> None:
    """Moves the form to a step and asks its question."""
    await state.set_state(step)
    draft = await load_draft(state)
    if step == RightsForm.type:
        await _answer(event, _("What happened to you? Choose the type:"), type_buttons())
    elif step == RightsForm.when:
        await _answer(event, _("When did it happen?"), when_buttons())
    elif step == RightsForm.when_typed:
        await _answer(
            event,
            _("Type the date and time, for example 2026-03-15 14:30, 3月15日14时30分 or 昨天 20:00 (/cancel stops)."),
        )
    elif step == RightsForm.where:
        await _answer(
            event, _("Where did it happen? Type the place, or send your location with the button below."),
            location_keyboard(),
        )
    elif step == RightsForm.what:
        # the reply keyboard comes back with this question (the location one is gone)
        await _answer(
            event, _("What happened? Type it, or send a voice note."), main_menu(officer, i18n, i18n.current_locale)
        )
    elif step == RightsForm.people:
        await _answer(
            event, _("Who else was involved (names, descriptions, vehicle plates)? Type it, or skip."), skip_buttons()
        )
    elif step == RightsForm.evidence:
        count = len(draft.files)
        text = _(
            "Send photos, videos, voice notes or documents as evidence, up to {max}. Press Done when finished."
        ).format(max=MAX_EVIDENCE)
        if count:
            text += "\n" + _("{n} file(s) so far.").format(n=count)
        await _answer(event, text, evidence_buttons(count))
    elif step == RightsForm.help:
        await _answer(event, _("What help do you want? Tick all that apply, then press Done."), help_buttons(draft.help_wanted))
    elif step == RightsForm.confirm:
        await show_summary(event, state, officer, settings)


async def show_summary(event: Message | CallbackQuery, state: FSMContext, officer: Officer, settings: Settings) -> None:
    """Shows the draft for checking, with submit and change buttons."""
    await state.set_state(RightsForm.confirm)
    await state.update_data({EDITING: True})
    draft = await load_draft(state)
    text = draft_summary(
        type_code=draft.type, occurred=draft.occurred_at, precision=draft.occurred_precision, place=draft.place,
        latitude=draft.latitude, longitude=draft.longitude, account=draft.account, people=draft.people,
        help_wanted=draft.help_wanted, evidence=draft.evidence, language=officer.language, tz=settings.tz,
    )
    await _answer(event, text, confirm_buttons())


async def after_field(
    event: Message | CallbackQuery, state: FSMContext, officer: Officer, i18n: I18n, settings: Settings, following: State
) -> None:
    """Goes on to the next step, or back to the summary when a field was being changed."""
    if (await state.get_data()).get(EDITING):
        await show_summary(event, state, officer, settings)
    else:
        await ask_step(event, state, following, officer, i18n, settings)


# --- handlers: the list and the form -----------------------------------------------------------


async def rights_handler(
    message: Message, officer: Officer, session: AsyncSession, settings: Settings, state: FSMContext
) -> None:
    """Lists the officer's applications with their status and next step, and offers a new one."""
    rows = await service.list_own(session=session, applicant=officer, via="bot", limit=LIST_LIMIT)
    buttons: list[list[InlineKeyboardButton]] = []
    if await state.get_state() in FORM_STATES:
        buttons.append([_form("▶️ " + _("Continue my unfinished application"), "continue")])
    buttons.append([_form("➕ " + _("New application"), "new")])
    if not rows:
        text = _(
            "You have no rights applications.\nIf you were assaulted, insulted, threatened, falsely accused, exposed "
            "online or injured on duty, or your relatives were targeted because of your work, apply here with "
            "photos, video, voice notes and documents. It takes two minutes."
        )
        await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))
        return
    lines = [_("<b>My rights applications</b> (newest first):")]
    for number, application in enumerate(rows, start=1):
        view = await load_view(session=session, application=application)
        lines.append(
            f"{number}. <b>{esc(application.number)}</b> · {esc(_(TYPES.get(application.type, application.type)))} · "
            f"{status_line(application, _, office=False)}\n    {next_step(view, officer.language, settings.tz)}"
        )
        buttons.insert(len(buttons) - 1, [_app(f"📂 {number}. {application.number}", "open", application.id)])
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))


async def form_callback(
    query: CallbackQuery,
    callback_data: FormAction,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
    i18n: I18n,
    bot: Bot,
) -> None:
    """Handles every button of the form."""
    action, arg = callback_data.action, callback_data.arg
    current = await state.get_state()
    if action == "new":
        await state.set_data({**(await state.get_data()), DRAFT: Draft().to_json(), EDITING: False})
        await query.answer()
        await ask_step(query, state, RightsForm.type, officer, i18n, settings)
        return
    if current not in FORM_STATES:
        await query.answer(_("This form is no longer open. Start again from My rights applications."), show_alert=True)
        return
    draft = await load_draft(state)
    if action == "continue":
        await query.answer()
        await ask_step(query, state, _state(current), officer, i18n, settings)
    elif action == "cancel":
        await state.set_state(None)
        await state.update_data({DRAFT: None, EDITING: False})
        await query.answer(_("Application cancelled."))
        await _answer(query, _("Application cancelled. Nothing was sent."), main_menu(officer, i18n, i18n.current_locale))
    elif action == "type" and arg in TYPES:
        draft.type = arg
        await save_draft(state, draft)
        await query.answer(_(TYPES[arg]))
        await after_field(query, state, officer, i18n, settings, RightsForm.when)
    elif action == "when":
        now = utcnow()
        if arg == "typed":
            await query.answer()
            await ask_step(query, state, RightsForm.when_typed, officer, i18n, settings)
            return
        if arg == "now":
            draft.occurred_at, draft.occurred_precision = now, "minute"
        else:
            local = now.astimezone(settings.tz)
            draft.occurred_at = local.replace(hour=0, minute=0, second=0, microsecond=0)
            draft.occurred_precision = "day"
        await save_draft(state, draft)
        await query.answer()
        await after_field(query, state, officer, i18n, settings, RightsForm.where)
    elif action == "skip" and current == RightsForm.people.state:
        draft.people = None
        await save_draft(state, draft)
        await query.answer()
        await after_field(query, state, officer, i18n, settings, RightsForm.evidence)
    elif action == "clear" and current == RightsForm.evidence.state:
        draft.evidence = [item for item in draft.evidence if item.purpose == "account"]
        await save_draft(state, draft)
        await query.answer(_("The files sent so far are removed from this application."))
        await ask_step(query, state, RightsForm.evidence, officer, i18n, settings)
    elif action == "done" and current == RightsForm.evidence.state:
        await query.answer()
        await after_field(query, state, officer, i18n, settings, RightsForm.help)
    elif action == "help" and arg in HELP and current == RightsForm.help.state:
        chosen = [code for code in draft.help_wanted if code != arg]
        if arg not in draft.help_wanted:
            chosen.append(arg)
        draft.help_wanted = [code for code in HELP if code in chosen]
        await save_draft(state, draft)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=help_buttons(draft.help_wanted))
    elif action == "done" and current == RightsForm.help.state:
        await query.answer()
        await show_summary(query, state, officer, settings)
    elif action == "edit":
        steps = {
            "type": RightsForm.type, "when": RightsForm.when, "where": RightsForm.where, "what": RightsForm.what,
            "people": RightsForm.people, "evidence": RightsForm.evidence, "help": RightsForm.help,
        }
        step = steps.get(arg)
        await query.answer()
        if step is not None:
            await state.update_data({EDITING: True})
            await ask_step(query, state, step, officer, i18n, settings)
    elif action == "submit" and current == RightsForm.confirm.state:
        await submit(query, draft, officer, session, settings, state, i18n, bot)
    else:
        await query.answer(_("That button belongs to another step. Please use the latest message."), show_alert=True)


def _state(name: str | None) -> State:
    for candidate in RightsForm.__states__:
        if candidate.state == name:
            return candidate
    return RightsForm.type


async def submit(
    query: CallbackQuery, draft: Draft, officer: Officer, session: AsyncSession, settings: Settings,
    state: FSMContext, i18n: I18n, bot: Bot,
) -> None:
    """Submits the draft and answers with the number, status, next step and the law."""
    missing = draft.missing()
    if missing:
        await query.answer(
            _("Please fill in: {missing}.").format(missing="、".join(_(m) for m in missing)), show_alert=True
        )
        return
    try:
        application = await service.submit(
            session=session, settings=settings, applicant=officer, draft=draft, fetcher=TelegramFetcher(bot)
        )
    except RightsError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    # Cleared only once the application is written: the draft is never lost to a failed submission.
    await state.set_state(None)
    await state.update_data({DRAFT: None, EDITING: False})
    await query.answer(_("Submitted."))
    view = await load_view(session=session, application=application)
    head = _("✅ Your application has been submitted.")
    if isinstance(query.message, Message):
        with_buttons = application_buttons(application)
        await query.message.answer(
            f"{head}\n{applicant_card(view, officer.language, settings.tz)}", reply_markup=with_buttons
        )
        law = render_law(application.type, officer.language)
        if law:
            await query.message.answer(law, reply_markup=main_menu(officer, i18n, i18n.current_locale))


async def typed_when_handler(
    message: Message, officer: Officer, settings: Settings, state: FSMContext, i18n: I18n
) -> None:
    """Takes a typed date and time; a bad one gets a hint and the officer tries again."""
    parsed = parse_when(message.text or "", now=utcnow(), tz=settings.tz)
    if parsed is None:
        await message.answer(
            _("I could not read that as a past date and time. Please type it like 2026-03-15 14:30 or 昨天 20:00.")
        )
        return
    draft = await load_draft(state)
    draft.occurred_at, draft.occurred_precision = parsed
    await save_draft(state, draft)
    await after_field(message, state, officer, i18n, settings, RightsForm.where)


async def where_handler(message: Message, officer: Officer, settings: Settings, state: FSMContext, i18n: I18n) -> None:
    """Takes the place as text or a shared location (or a skip); an answer replaces the earlier one."""
    draft = await load_draft(state)
    if message.location is not None:
        draft.place = None
        draft.latitude, draft.longitude = message.location.latitude, message.location.longitude
    else:
        text = (message.text or "").strip()
        if len(text) > 500:
            await message.answer(_("That is too long. Please keep the place under 500 characters."))
            return
        draft.latitude = draft.longitude = None
        draft.place = None if text in _skip_labels(i18n) else text
    await save_draft(state, draft)
    await after_field(message, state, officer, i18n, settings, RightsForm.what)


def _skip_labels(i18n: I18n) -> set[str]:
    label = "⏭ Skip this step"
    return {label} | {i18n.gettext(label, locale=locale) for locale in i18n.available_locales}


async def what_handler(
    message: Message, officer: Officer, settings: Settings, state: FSMContext, i18n: I18n, bot: Bot
) -> None:
    """Takes what happened, typed or as a voice note (stored as evidence)."""
    draft = await load_draft(state)
    if message.voice is not None:
        taken = await take_file(message, bot, settings, purpose="account")
        assert taken is not None  # a voice message carries a file
        draft.evidence = [item for item in draft.evidence if item.purpose != "account"] + [taken]
        draft.account = None
        await message.answer(_("🎙 Voice note received."))
    else:
        text = (message.text or "").strip()
        if not text:
            await message.answer(_("Please type what happened, or send a voice note."))
            return
        if len(text) > MAX_TEXT:
            await message.answer(_("That is too long ({n} characters). Please keep it under {max}.").format(
                n=len(text), max=MAX_TEXT))
            return
        draft.account = text
    await save_draft(state, draft)
    await after_field(message, state, officer, i18n, settings, RightsForm.people)


async def people_handler(message: Message, officer: Officer, settings: Settings, state: FSMContext, i18n: I18n) -> None:
    """Takes who else was involved."""
    text = (message.text or "").strip()
    if len(text) > MAX_TEXT:
        await message.answer(_("That is too long ({n} characters). Please keep it under {max}.").format(
            n=len(text), max=MAX_TEXT))
        return
    draft = await load_draft(state)
    draft.people = text or None
    await save_draft(state, draft)
    await after_field(message, state, officer, i18n, settings, RightsForm.evidence)


async def evidence_handler(message: Message, settings: Settings, state: FSMContext, bot: Bot) -> None:
    """Takes one file of evidence: downloads it into the store and says so."""
    draft = await load_draft(state)
    if len(draft.files) >= MAX_EVIDENCE:
        await message.answer(_("You have sent {max} files, the most one application takes. Press Done.").format(
            max=MAX_EVIDENCE), reply_markup=evidence_buttons(len(draft.files)))
        return
    taken = await take_file(message, bot, settings)
    if taken is None:
        await message.answer(_("Please send it as a photo, video, voice note or file (📎 → File)."))
        return
    draft = await load_draft(state)  # read again: a long download may have overlapped another file
    draft.evidence.append(taken)
    await save_draft(state, draft)
    await message.answer(received_text(taken, len(draft.files)), reply_markup=evidence_buttons(len(draft.files)))


async def evidence_text_handler(message: Message, state: FSMContext) -> None:
    """Reminds the officer what the evidence step takes."""
    draft = await load_draft(state)
    await message.answer(
        _("Send photos, videos, voice notes or documents, or press Done."), reply_markup=evidence_buttons(len(draft.files))
    )


async def use_the_buttons_handler(
    message: Message, officer: Officer, settings: Settings, state: FSMContext, i18n: I18n
) -> None:
    """Text typed where the form expects a button: says so and asks the step again (nothing is lost)."""
    await message.answer(_("Please choose with the buttons (or send /cancel to stop)."))
    await ask_step(message, state, _state(await state.get_state()), officer, i18n, settings)


async def unsupported_file_handler(message: Message) -> None:
    """Asks for a kind of file the office can use."""
    await message.answer(_("Please send it as a photo, video, voice note or file (📎 → File)."))


# --- handlers: an application, replying, withdrawing -------------------------------------------


def error_text(error: RightsError) -> str:
    """Says politely why something could not be done."""
    if isinstance(error, RightsForbidden):
        return _("You may not see or change this application.")
    messages = {
        "not_found": _("This application no longer exists."),
        "bad_state": _("This can no longer be done: the application has moved on."),
        "empty": _("Please type something first."),
        "too_long": _("That is too long. Please keep it under {max} characters.").format(max=MAX_TEXT),
        "too_many": _("At most {max} files at a time.").format(max=MAX_EVIDENCE),
    }
    return messages.get(error.code, _("This cannot be done now."))


async def applicant_callback(
    query: CallbackQuery,
    callback_data: ApplicantAction,
    officer: Officer,
    session: AsyncSession,
    settings: Settings,
    state: FSMContext,
    i18n: I18n,
    bot: Bot,
) -> None:
    """Handles the buttons under an application and under the pushes about it."""
    action, app_id = callback_data.action, callback_data.app
    try:
        if action in ("send", "drop"):
            await reply_callback(query, action, app_id, officer, session, settings, state, bot)
            return
        view = await service.open_application(session=session, viewer=officer, application_id=app_id, via="bot")
        application = view.application
        if application.applicant_id != officer.id:
            raise RightsForbidden()
        if action == "open":
            await query.answer()
            await _answer(query, applicant_card(view, officer.language, settings.tz), application_buttons(application))
        elif action == "law":
            await query.answer()
            await _answer(query, render_law(application.type, officer.language) or _("No law is on file for this type."))
        elif action == "reply":
            if application.status != Status.WAITING:
                raise RightsError("bad_state", application.status)
            await state.set_state(RightsReply.collecting)
            await state.update_data({REPLY: {"app": application.id, "text": None, "evidence": []}})
            await query.answer()
            await _answer(query, _(
                "Type your answer and send any files the office asked for. Press Send when done (/cancel stops)."
            ), reply_buttons(application.id, 0))
        elif action == "withdraw":
            if application.status not in WITHDRAWABLE:
                raise RightsError("bad_state", application.status)
            await query.answer()
            await _answer(query, _("Withdraw {number}? The office will stop working on it.").format(
                number=application.number), InlineKeyboardMarkup(inline_keyboard=[[
                    _app(_("Yes, withdraw it"), "wconfirm", application.id),
                    _app(_("No, keep it"), "open", application.id)]]))
        elif action == "wconfirm":
            await service.withdraw(session=session, settings=settings, applicant=officer, application_id=application.id)
            await query.answer(_("Withdrawn."))
            view = await load_view(session=session, application=application)
            await _answer(query, applicant_card(view, officer.language, settings.tz))
        else:
            await query.answer()
    except RightsError as error:
        await query.answer(error_text(error), show_alert=True)


def reply_buttons(app_id: int, files: int) -> InlineKeyboardMarkup:
    """Send the answer, or drop it."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [_app("📨 " + _("Send to the office"), "send", app_id)],
        [_app("✖️ " + _("Drop this answer"), "drop", app_id)],
    ])


async def reply_callback(
    query: CallbackQuery, action: str, app_id: int, officer: Officer, session: AsyncSession, settings: Settings,
    state: FSMContext, bot: Bot,
) -> None:
    """Sends (or drops) the answer being put together."""
    data = (await state.get_data()).get(REPLY) or {}
    if await state.get_state() != RightsReply.collecting.state or data.get("app") != app_id:
        await query.answer(_("There is no answer being written for this application."), show_alert=True)
        return
    await state.set_state(None)
    await state.update_data({REPLY: None})
    if action == "drop":
        await query.answer(_("Answer dropped."))
        return
    evidence = [EvidenceItem.from_json(item) for item in data.get("evidence") or []]
    try:
        await service.reply(
            session=session, settings=settings, applicant=officer, application_id=app_id, text=data.get("text"),
            evidence=evidence, fetcher=TelegramFetcher(bot),
        )
    except RightsError as error:
        await state.set_state(RightsReply.collecting)
        await state.update_data({REPLY: data})
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer(_("Sent to the office."))
    if evidence:
        await _answer(query, _("✅ Your answer and {n} file(s) were sent to the office.").format(n=len(evidence)))
    else:
        await _answer(query, _("✅ Your answer was sent to the office."))


async def reply_text_handler(message: Message, state: FSMContext) -> None:
    """Adds typed text to the answer being put together."""
    data = dict((await state.get_data()).get(REPLY) or {})
    text = (message.text or "").strip()
    joined = "\n".join(part for part in (data.get("text"), text) if part)
    if len(joined) > MAX_TEXT:
        await message.answer(_("That is too long. Please keep it under {max} characters.").format(max=MAX_TEXT))
        return
    data["text"] = joined
    await state.update_data({REPLY: data})
    await message.answer(_("Noted. Add files or more text, or press Send."),
                         reply_markup=reply_buttons(int(data.get("app") or 0), len(data.get("evidence") or [])))


async def reply_file_handler(message: Message, settings: Settings, state: FSMContext, bot: Bot) -> None:
    """Adds a file to the answer being put together."""
    data = dict((await state.get_data()).get(REPLY) or {})
    files = list(data.get("evidence") or [])
    if len(files) >= MAX_EVIDENCE:
        await message.answer(_("At most {max} files at a time.").format(max=MAX_EVIDENCE))
        return
    taken = await take_file(message, bot, settings)
    if taken is None:
        await message.answer(_("Please send it as a photo, video, voice note or file (📎 → File)."))
        return
    data = dict((await state.get_data()).get(REPLY) or {})
    files = [*list(data.get("evidence") or []), taken.to_json()]
    data["evidence"] = files
    await state.update_data({REPLY: data})
    await message.answer(received_text(taken, len(files)), reply_markup=reply_buttons(int(data.get("app") or 0), len(files)))


def create_router() -> Router:
    """Builds the officer's rights router (a new one per application)."""
    router = Router(name="rights")
    router.message.filter(Enrolled())
    router.callback_query.filter(Enrolled())
    router.message.register(rights_handler, Command("rights"))
    router.message.register(rights_handler, MenuLabel(RIGHTS))
    router.callback_query.register(form_callback, FormAction.filter())
    router.callback_query.register(applicant_callback, ApplicantAction.filter())
    router.message.register(typed_when_handler, RightsForm.when_typed, F.text, ~F.text.startswith("/"))
    router.message.register(where_handler, RightsForm.where, F.location)
    router.message.register(where_handler, RightsForm.where, F.text, ~F.text.startswith("/"))
    router.message.register(what_handler, RightsForm.what, F.voice)
    router.message.register(what_handler, RightsForm.what, F.text, ~F.text.startswith("/"))
    router.message.register(people_handler, RightsForm.people, F.text, ~F.text.startswith("/"))
    files = F.photo | F.video | F.voice | F.document
    others = F.video_note | F.audio | F.sticker | F.animation
    router.message.register(evidence_handler, RightsForm.evidence, files)
    router.message.register(unsupported_file_handler, RightsForm.evidence, others)
    router.message.register(evidence_text_handler, RightsForm.evidence, F.text, ~F.text.startswith("/"))
    buttons_only = StateFilter(RightsForm.type, RightsForm.when, RightsForm.help, RightsForm.confirm)
    router.message.register(use_the_buttons_handler, buttons_only, F.text, ~F.text.startswith("/"))
    router.message.register(reply_file_handler, RightsReply.collecting, files)
    router.message.register(unsupported_file_handler, RightsReply.collecting, others)
    router.message.register(reply_text_handler, RightsReply.collecting, F.text, ~F.text.startswith("/"))
    return router
