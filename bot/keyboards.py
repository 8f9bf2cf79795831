"""Reply keyboard, inline buttons and callback data of the bot.

Menu labels are gettext msgids; a label typed from an old keyboard in the other language
still works, because matching accepts every language's wording.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import I18n

from core.identity import Officer, Role

ASK = "Ask a law question"
REMINDERS = "My reminders"
TASKS = "My tasks"
NOTICES = "My notices"
RIGHTS = "My rights applications"
HELP = "Help"
SETTINGS = "Settings / Language"
UNANSWERED = "Unanswered questions"
BROADCAST = "Broadcast a tip"
NEW_TASK = "Assign a task"
RIGHTS_OFFICE = "Rights office"

LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


class AnswerAction(CallbackData, prefix="a"):
    """A button under an answer: feedback, related, refer, expand."""

    action: str  # up | down | rel | ref | full
    token: str


class LanguageChoice(CallbackData, prefix="lang"):
    """A language button in settings."""

    code: str


class LegalAction(CallbackData, prefix="lq"):
    """A legal brigade button: pick a referred question to answer, or save an answer as guidance."""

    action: str  # pick | save
    question_id: int


def menu_labels(officer: Officer | None) -> list[list[str]]:
    """Lists the menu labels (msgids) an officer sees, row by row."""
    rows = [[ASK, REMINDERS], [TASKS, NOTICES], [RIGHTS, HELP], [SETTINGS]]
    if officer is None:
        return rows
    if officer.has_role(Role.LEGAL):
        rows.append([UNANSWERED, BROADCAST])
    if officer.has_role(Role.SUPERVISOR, Role.LEGAL):
        rows.append([NEW_TASK])
    if officer.has_role(Role.RIGHTS):
        rows.append([RIGHTS_OFFICE])
    return rows


def main_menu(officer: Officer | None, i18n: I18n, locale: str) -> ReplyKeyboardMarkup:
    """Builds the reply keyboard for an officer in a language."""
    rows = [
        [KeyboardButton(text=i18n.gettext(label, locale=locale)) for label in row]
        for row in menu_labels(officer)
    ]
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


def answer_buttons(token: str, i18n: I18n, *, grounded: bool, folded: bool) -> InlineKeyboardMarkup:
    """Builds the buttons under an answer."""
    t = i18n.gettext
    refer = InlineKeyboardButton(
        text="📨 " + t("Refer to legal brigade"), callback_data=AnswerAction(action="ref", token=token).pack()
    )
    if not grounded:
        return InlineKeyboardMarkup(inline_keyboard=[[refer]])
    rows = [
        [
            InlineKeyboardButton(text="👍", callback_data=AnswerAction(action="up", token=token).pack()),
            InlineKeyboardButton(text="👎", callback_data=AnswerAction(action="down", token=token).pack()),
        ],
        [
            InlineKeyboardButton(
                text="📚 " + t("Related provisions"),
                callback_data=AnswerAction(action="rel", token=token).pack(),
            ),
            refer,
        ],
    ]
    if folded:
        rows.append(
            [
                InlineKeyboardButton(
                    text="📄 " + t("Show full text"),
                    callback_data=AnswerAction(action="full", token=token).pack(),
                )
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def language_buttons(current: str) -> InlineKeyboardMarkup:
    """Builds the language choice buttons, marking the current one."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=("✅ " if code == current else "") + name,
                    callback_data=LanguageChoice(code=code).pack(),
                )
                for code, name in LANGUAGE_NAMES.items()
            ]
        ]
    )


def save_guidance_button(question_id: int, i18n: I18n) -> InlineKeyboardMarkup:
    """Builds the button that saves a legal answer as curated guidance."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="💾 " + i18n.gettext("Save as guidance"),
                    callback_data=LegalAction(action="save", question_id=question_id).pack(),
                )
            ]
        ]
    )


def answer_referral_button(question_id: int, i18n: I18n, locale: str) -> InlineKeyboardMarkup:
    """Builds the button a legal officer presses to answer a referred question."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="✍️ " + i18n.gettext("Answer", locale=locale),
                    callback_data=LegalAction(action="pick", question_id=question_id).pack(),
                )
            ]
        ]
    )


def label_variants(label: str, i18n: I18n) -> set[str]:
    """Lists a menu label's wording in every language."""
    return {label} | {i18n.gettext(label, locale=locale) for locale in i18n.available_locales}


class MenuLabel(Filter):
    """Passes a message whose text is a menu label in any language."""

    def __init__(self, *labels: str) -> None:
        self.labels = labels

    async def __call__(self, message: Message, i18n: I18n) -> bool:
        """Tells whether the message is one of the labels."""
        text = (message.text or "").strip()
        return any(text in label_variants(label, i18n) for label in self.labels)


# --- tasks -------------------------------------------------------------------------------------


class TaskAction(CallbackData, prefix="tk"):
    """An assignee's button under a task; packs as tk:{action}:{assignment_id}:{arg}, as tasks.texts does."""

    action: str  # show | done | ok | note | snz | sz | back
    assignment_id: int
    arg: str = ""


class TaskManage(CallbackData, prefix="tm"):
    """A creator's button; packs as tm:{action}:{target}:{arg}, as tasks.texts does."""

    action: str  # l | v | r | n | s | sr | ro | rp | ph | e | ef | ep | x | xo | xf
    target: int
    arg: str = ""


class TaskNew(CallbackData, prefix="tn"):
    """A choice in the guided flow that gives a task."""

    step: str  # who | due | rep | end | src | pri | case | go
    value: str


ALL_MENU_LABELS = (
    ASK, REMINDERS, TASKS, NOTICES, RIGHTS, HELP, SETTINGS, UNANSWERED, BROADCAST, NEW_TASK, RIGHTS_OFFICE
)


def inline(rows: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """Builds an inline keyboard from plain button dicts (as the outbox stores them)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b["text"], callback_data=b.get("callback_data")) for b in row]
            for row in rows
        ]
    )
# --- broadcasts ----------------------------------------------------------------------------------


class BroadcastAck(CallbackData, prefix="bca"):
    """已阅 under a tip; packs as bca:{broadcast_id}, as broadcasts.render writes it (0: a preview)."""

    broadcast_id: int


class BroadcastAction(CallbackData, prefix="bcs"):
    """A button of the sender's status message; packs as bcs:{action}:{broadcast_id}, as broadcasts.render writes it."""

    action: str  # units | unread | remind | cancel | refresh | show | remind_yes | cancel_yes | keep
    broadcast_id: int


class ComposeAction(CallbackData, prefix="bcc"):
    """A button of the broadcast compose flow."""

    action: str
    arg: str = ""


class NoticeAction(CallbackData, prefix="ntc"):
    """A button of 我的通知: open one tip."""

    action: str  # open
    broadcast_id: int
def no_basis_buttons(token: str, i18n: I18n, *, candidates: bool) -> InlineKeyboardMarkup:
    """Builds the buttons under a reply with no basis: the unconfirmed candidates, if any, and the referral."""
    t = i18n.gettext
    rows = []
    if candidates:
        rows.append(
            [
                InlineKeyboardButton(
                    text="📚 " + t("Possibly related provisions"),
                    callback_data=AnswerAction(action="rel", token=token).pack(),
                )
            ]
        )
    rows.append(
        [InlineKeyboardButton(text="📨 " + t("Refer to legal brigade"), callback_data=AnswerAction(action="ref", token=token).pack())]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def related_full_button(token: str, i18n: I18n) -> InlineKeyboardMarkup:
    """Builds the button that shows folded related provisions in full."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="📄 " + i18n.gettext("Show full text"),
                    callback_data=AnswerAction(action="relfull", token=token).pack(),
                )
            ]
        ]
    )
