"""Every domain's periodic work, gathered in one place for the processes that run it.

`frontline run` runs these beside the bot, `frontline worker` beside the delivery loop; each job
runs until the stop event is set. A domain adds its loop here (reminder scan, scheduled
broadcasts, task cycles, the rights office's time limits ...); nothing in the domains imports
this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.loop import run_broadcast_loop
from core.holidays import load_calendar
from core.settings import Settings
from knowledge.curation import run_guidance_watch_loop
from knowledge.risk import RiskTipSource, risk_tip_texts
from reminders.schedule import run_daily_scan_loop
from rights.sla import run_sla_loop
from tasks.schedule import run_task_loop

Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class NamedJob:
    """A periodic loop and the name its task and log lines carry."""

    name: str
    run: Job


def periodic_jobs(
    settings: Settings, *, sessions: async_sessionmaker[AsyncSession], kb: RiskTipSource
) -> list[NamedJob]:
    """Lists the periodic loops of every domain, bound to one database and knowledge base."""
    tips = risk_tip_texts(kb)

    async def reminder_scan(stop: asyncio.Event) -> None:
        await run_daily_scan_loop(sessions=sessions, settings=settings, risk_tips=tips, stop=stop)

    async def rights_time_limits(stop: asyncio.Event) -> None:
        await run_sla_loop(sessions=sessions, settings=settings, stop=stop)

    async def guidance_watch(stop: asyncio.Event) -> None:
        await run_guidance_watch_loop(settings=settings, kb=kb, stop=stop)

    async def task_scan(stop: asyncio.Event) -> None:
        await run_task_loop(sessions=sessions, settings=settings, calendar=load_calendar(settings), stop=stop)

    async def broadcasts(stop: asyncio.Event) -> None:
        # The Telegram side uploads a tip's file once; imported here, where the loop runs.
        from bot.routers.broadcasts import broadcast_uploader

        async with broadcast_uploader(settings) as uploader:
            await run_broadcast_loop(sessions=sessions, settings=settings, stop=stop, uploader=uploader)

    return [
        NamedJob("reminders", reminder_scan),
        NamedJob("rights", rights_time_limits),
        NamedJob("tasks", task_scan),
        NamedJob("broadcasts", broadcasts),
        NamedJob("guidance", guidance_watch),
    ]
