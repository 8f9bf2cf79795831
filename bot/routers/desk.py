"""/desk: a single-use link that signs the legal brigade, the rights office and supervisors in to the desk."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import LinkPreviewOptions, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.middlewares import Enrolled
from bot.render import esc
from core import signin
from core.identity import Officer
from core.settings import Settings


async def desk_handler(message: Message, officer: Officer, session: AsyncSession, settings: Settings) -> None:
    """Sends a sign-in link to the desk, or says who the desk is for."""
    if not signin.may_use_desk(officer):
        await message.answer(
            _("The desk is the web console of the legal brigade, the rights office, supervisors and administrators.")
        )
        return
    issued = await signin.issue_link(session=session, officer=officer, base_url=settings.desk_public_url, via="bot")
    minutes = int(signin.LINK_TTL.total_seconds() // 60)
    text = "\n".join(
        (
            "🖥 <b>" + esc(_("Sign in to the desk")) + "</b>",
            esc(_("Open this link on your computer within {minutes} minutes. It works once; do not pass it on.").format(
                minutes=minutes
            )),
            "",
            esc(issued.url),
        )
    )
    # No preview: a preview would fetch the address (harmless: it only shows the sign-in button).
    await message.answer(text, link_preview_options=LinkPreviewOptions(is_disabled=True))


def create_router() -> Router:
    """Builds the desk sign-in router (a new one per application)."""
    router = Router(name="desk")
    router.message.filter(Enrolled())
    router.message.register(desk_handler, Command("desk"))
    return router
