"""Tasks: give a task or a repeating series to officers, units or roles; the tasks given, and each
one's completion per assignee; the overview's panel of overdue tasks in the viewer's units.

Everything goes through :mod:`tasks.service` (the bot's own path): assignees are resolved within
the giver's reach, each gets a notice through the outbox, reminders and escalations follow from
the task scan. Supervisors and the legal brigade give tasks and follow those they gave;
administrators see every task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from core.holidays import load_calendar
from core.identity import Role
from desk.registry import DeskModule, NavItem, OverviewPanel
from desk.web import PageContext, page
from tasks import service
from tasks.assignees import split_tokens
from tasks.models import Priority, Source
from tasks.reading import OCCURRENCE_STATES
from tasks.recurrence import Repeat
from tasks.spec import DEFAULT_DUE_TIME, TaskError, TaskSpec

ROLES = (Role.LEGAL, Role.SUPERVISOR)
PAGE_SIZE = 30
PANEL_SHOWN = 5

REPEAT_LABELS = {
    Repeat.NONE.value: "Once",
    Repeat.DAILY.value: "Every day",
    Repeat.WORKDAYS.value: "Every working day",
    Repeat.WEEKLY.value: "Every week (same weekday)",
    Repeat.MONTHLY.value: "Every month (same day)",
    Repeat.MONTHLY_LAST_WORKDAY.value: "Last working day of every month",
}
PRIORITY_LABELS = {Priority.HIGH.value: "High", Priority.NORMAL.value: "Normal", Priority.LOW.value: "Low"}
SOURCE_LABELS = {
    Source.RECTIFICATION.value: "Rectifying a law-enforcement problem",
    Source.CASE.value: "Case follow-up",
    Source.TRAINING.value: "Training",
    Source.OTHER.value: "Other",
}
STATE_LABELS = {
    "open": "open",
    "overdue": "overdue",
    "done": "done",
    "cancelled": "cancelled",
    "removed": "taken off",
}
ERROR_MESSAGES = {
    "title_empty": "Please write a title.",
    "title_long": "The title is too long (at most 200 characters).",
    "description_long": "The description is too long (at most 2000 characters).",
    "due_past": "The due time {detail} has passed; please choose a later one.",
    "start_too_old": "A repeating task cannot start more than 31 days ago.",
    "until_before_due": "The end date is before the first due date.",
    "bad_count": "The number of times must be between 1 and 1000.",
    "no_occurrence": "The rule gives no due date before the series ends.",
    "unknown_case": "There is no case numbered {detail}.",
    "unknown_assignee": "No officer, unit or role is called: {detail}.",
    "outside": "Outside the units you can give tasks to: {detail}.",
    "nobody": "No active officer to give the task to.",
    "not_creator_role": "Only supervisors, the legal brigade and administrators can give tasks.",
}
NO_ASSIGNEE = "Please say who the task is for."
NO_DUE = "Please give the due date."
BAD_COUNT = ERROR_MESSAGES["bad_count"]


@dataclass
class TaskForm:
    """What the task form holds (kept when it is sent back with an error)."""

    title: str = ""
    description: str = ""
    assignees: str = ""
    due_date: str = ""
    due_time: str = DEFAULT_DUE_TIME.strftime("%H:%M")
    repeat: str = Repeat.NONE.value
    until: str = ""
    count: str = ""
    priority: str = Priority.NORMAL.value
    source: str = Source.OTHER.value
    case_number: str = ""
    problems: list[str] = field(default_factory=list)

    def spec(self, ctx: PageContext) -> TaskSpec | None:
        """The task asked for, or None with the reasons in ``problems``."""
        _ = ctx._
        tokens = split_tokens(self.assignees)
        if not tokens:
            self.problems.append(_(NO_ASSIGNEE))
        due_day = _date(self.due_date)
        if due_day is None:
            self.problems.append(_(NO_DUE))
        try:
            hour, minute = (int(part) for part in (self.due_time or "18:00").split(":")[:2])
            at = time(hour, minute)
        except ValueError:
            self.problems.append(_("Please give the time as HH:MM."))
            at = DEFAULT_DUE_TIME
        until = _date(self.until)
        if self.until.strip() and until is None:
            self.problems.append(_("Please give dates as YYYY-MM-DD."))
        count: int | None = None
        if self.count.strip():
            if not self.count.strip().isdigit():
                self.problems.append(_(BAD_COUNT))
            else:
                count = int(self.count.strip())
        if self.problems or due_day is None:
            return None
        return TaskSpec(
            title=self.title, assignees=tokens,
            due=datetime.combine(due_day, at, tzinfo=ctx.settings.tz),
            repeat=Repeat(self.repeat) if self.repeat in REPEAT_LABELS else Repeat.NONE,
            priority=Priority(self.priority) if self.priority in PRIORITY_LABELS else Priority.NORMAL,
            source=Source(self.source) if self.source in SOURCE_LABELS else Source.OTHER,
            description=self.description.strip() or None, until=until, count=count,
            case_number=self.case_number.strip() or None,
        )


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


def error_text(ctx: PageContext, exc: TaskError) -> str:
    """Says what is wrong with a task, in the viewer's language."""
    return ctx._(ERROR_MESSAGES.get(exc.code, "That did not work: {detail}")).format(detail=exc.detail)


async def tasks_panel(ctx: PageContext) -> Markup:
    """Renders the overview's overdue tasks of officers in the viewer's units."""
    overdue, occurrences, top = await service.overdue_summary(
        session=ctx.session, now=ctx.now, unit_ids=ctx.viewer.scope.unit_ids, limit=PANEL_SHOWN
    )
    return ctx.fragment("overview/tasks.html", overdue=overdue, occurrences=occurrences, top=top)


def create_router() -> APIRouter:
    """Builds the task pages."""
    router = APIRouter()

    def creator_filter(ctx: PageContext) -> int | None:
        return None if Role.ADMIN in ctx.viewer.officer.roles else ctx.viewer.officer.id

    @router.get("/tasks")
    async def given(
        ctx: Annotated[PageContext, Depends(page(*ROLES))],
        state: Annotated[str, Query(max_length=16)] = "",
        page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    ) -> HTMLResponse:
        """Lists the tasks the viewer gave (every task for administrators): open ones by due time."""
        wanted = state if state in OCCURRENCE_STATES else None
        items, total = await service.occurrence_list(
            session=ctx.session, settings=ctx.settings, now=ctx.now, creator_id=creator_filter(ctx), state=wanted,
            offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE,
        )
        return ctx.render(
            "tasks/list.html", items=items, total=total, state=wanted or "", page_no=page_no,
            pages=max(1, -(-total // PAGE_SIZE)), states=ctx.labels(STATE_LABELS), repeats=ctx.labels(REPEAT_LABELS),
            priorities=ctx.labels(PRIORITY_LABELS),
        )

    async def render_form(ctx: PageContext, form: TaskForm, *, status_code: int = 200) -> HTMLResponse:
        flash = {"kind": "bad", "text": " ".join(form.problems)} if form.problems else None
        return ctx.render(
            "tasks/new.html", status_code=status_code, form=form, flash=flash, repeats=ctx.labels(REPEAT_LABELS),
            priorities=ctx.labels(PRIORITY_LABELS), sources=ctx.labels(SOURCE_LABELS),
            units=sorted(ctx.viewer.scope.names[u] for u in (ctx.viewer.scope.parents if ctx.viewer.scope.everything
                                                             else ctx.viewer.scope.unit_ids or ())),
        )

    @router.get("/tasks/new")
    async def new(ctx: Annotated[PageContext, Depends(page(*ROLES))]) -> HTMLResponse:
        """Shows the form to give a task or a repeating series."""
        return await render_form(ctx, TaskForm())

    @router.post("/tasks")
    async def give(
        ctx: Annotated[PageContext, Depends(page(*ROLES))],
        title: Annotated[str, Form(max_length=1000)] = "",
        description: Annotated[str, Form(max_length=10_000)] = "",
        assignees: Annotated[str, Form(max_length=2000)] = "",
        due_date: Annotated[str, Form(max_length=10)] = "",
        due_time: Annotated[str, Form(max_length=5)] = "",
        repeat: Annotated[str, Form(max_length=24)] = Repeat.NONE.value,
        until: Annotated[str, Form(max_length=10)] = "",
        count: Annotated[str, Form(max_length=6)] = "",
        priority: Annotated[str, Form(max_length=16)] = Priority.NORMAL.value,
        source: Annotated[str, Form(max_length=32)] = Source.OTHER.value,
        case_number: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        """Gives the task: its series, first occurrence and a notice to every assignee through the outbox."""
        form = TaskForm(title, description, assignees, due_date, due_time or "18:00", repeat, until, count, priority,
                        source, case_number)
        spec = form.spec(ctx)
        if spec is not None:
            checked = await service.preview(
                session=ctx.session, spec=spec, settings=ctx.settings, calendar=load_calendar(ctx.settings),
                creator=ctx.viewer.officer, now=ctx.now,
            )
            form.problems += [error_text(ctx, problem) for problem in checked.problems]
        if spec is None or form.problems:
            await ctx.audit("desk.task_refused", target_type="task_series", detail={"problems": len(form.problems)})
            return await render_form(ctx, form, status_code=400)
        made = await service.create_task(
            session=ctx.session, spec=spec, settings=ctx.settings, calendar=load_calendar(ctx.settings),
            creator=ctx.viewer.officer, actor=ctx.viewer.officer.badge, now=ctx.now,
        )
        await ctx.audit("desk.task_given", target_type="task_series", target_id=made.series.id,
                        detail={"officers": len(made.assignees), "repeat": made.series.repeat})
        return RedirectResponse(ctx.url(f"/tasks/{made.occurrence.id}", done="given", n=len(made.assignees)),
                                status_code=303)

    @router.get("/tasks/{occurrence_id}")
    async def progress(
        occurrence_id: int, ctx: Annotated[PageContext, Depends(page(*ROLES))], done: str | None = None, n: int = 0
    ) -> HTMLResponse:
        """Shows one task: completion per assignee, and across the series when it repeats."""
        try:
            shown = await service.occurrence_progress(
                session=ctx.session, occurrence_id=occurrence_id, settings=ctx.settings, now=ctx.now,
                officer=ctx.viewer.officer,
            )
            series = (
                await service.series_progress(
                    session=ctx.session, series_id=shown.facts.series_id, settings=ctx.settings,
                    calendar=load_calendar(ctx.settings), now=ctx.now, officer=ctx.viewer.officer,
                )
                if shown.facts.repeats else None
            )
        except TaskError:  # not theirs, or no such task: the same answer
            raise HTTPException(status_code=404) from None
        flash = None
        if done == "given":
            flash = {"kind": "good", "text": ctx._("Task given to {n} officer(s); each has been sent a notice.").format(n=n)}
        return ctx.render(
            "tasks/progress.html", p=shown, series=series, flash=flash, states=ctx.labels(STATE_LABELS),
            repeats=ctx.labels(REPEAT_LABELS), priorities=ctx.labels(PRIORITY_LABELS),
            sources=ctx.labels(SOURCE_LABELS),
        )

    return router


def module() -> DeskModule:
    """Tasks given from the desk, their progress, and the overview's overdue tasks."""
    return DeskModule(
        name="tasks",
        router=create_router(),
        nav=(NavItem("tasks", "/tasks", "Tasks", frozenset(ROLES), 34),),
        panels=(OverviewPanel("tasks", frozenset(ROLES), tasks_panel),),
    )
