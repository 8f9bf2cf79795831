"""Every router of the bot, in the order updates meet them."""

from __future__ import annotations

from aiogram import Router

from bot.middlewares import FloodControl
from bot.routers import (
    ask,
    broadcasts,
    desk,
    legal,
    menu,
    notices,
    reminders,
    rights,
    rights_office,
    start,
    task_create,
    tasks,
)


def all_routers(flood: FloodControl | None = None) -> list[Router]:
    """Lists the routers: enrollment gate first, free-text questions last."""
    return [
        start.create_router(),
        menu.create_router(),
        legal.create_router(),
        desk.create_router(),
        reminders.create_router(),
        rights.create_router(),
        rights_office.create_router(),
        tasks.create_router(),
        task_create.create_router(),
        notices.create_router(),
        broadcasts.create_router(),
        ask.create_router(flood),
    ]
