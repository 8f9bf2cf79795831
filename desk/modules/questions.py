"""Questions: the legal brigade's queue of referred questions, answers to the officers, curated guidance."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import case, func, select

from core.identity import Officer, Role, Unit
from desk.charts import histogram
from desk.registry import DeskModule, NavItem, OverviewPanel
from desk.web import PageContext, page
from knowledge import curation
from knowledge.curation import AnswerDelivery, CurationError
from knowledge.models import ANSWERED, OPEN, UnansweredQuestion

ROLES = (Role.LEGAL,)
QUEUE_SHOWN = 100
ANSWERED_SHOWN = 50
PANEL_OLDEST = 5

DONE_MESSAGES = {
    "answered": "Answer sent to {name}.",
    "answered_held": "Answer saved; it reaches {name} as soon as their phone can be reached.",
    "answered_inactive": "Answer saved; {name} has been deactivated, so it was not sent.",
    "saved": "Saved as guidance: officers asking alike are shown it within a minute.",
    "edited": "Guidance updated.",
    "retired": "Guidance retired: officers are no longer shown it.",
}
ERROR_MESSAGES = {
    "empty_answer": "Please write an answer.",
    "empty_question": "The question is empty.",
    "answer_too_long": "The answer is too long ({detail} characters); please keep it under 3000.",
    "already_answered": "This question has already been answered.",
    "no_question": "There is no such question.",
    "not_answered": "This question has no answer yet.",
    "already_saved": "This answer is already saved as guidance.",
    "no_guidance": "There is no such guidance.",
    "not_editable": "This guidance was not written as a question and answer; change its file instead.",
    "bad_name": "There is no such guidance.",
}


def _scope_filter(ctx: PageContext) -> list[Any]:
    scope = ctx.viewer.scope
    return [] if scope.unit_ids is None else [Officer.unit_id.in_(sorted(scope.unit_ids))]


def error_text(ctx: PageContext, exc: CurationError) -> str:
    """Says what went wrong with a curation request, in the viewer's language."""
    return ctx._(ERROR_MESSAGES.get(exc.code, exc.code)).format(detail=exc.detail)


async def queue(ctx: PageContext, *, status: str, limit: int) -> list[dict[str, Any]]:
    """Lists referred questions in scope: open ones oldest first, answered ones newest first."""
    order = (UnansweredQuestion.created_at, UnansweredQuestion.id) if status == OPEN else (
        UnansweredQuestion.answered_at.desc(), UnansweredQuestion.id.desc())
    rows = (
        await ctx.session.execute(
            select(UnansweredQuestion, Officer.name, Officer.badge, Officer.active, Unit.name.label("unit"))
            .join(Officer, Officer.id == UnansweredQuestion.officer_id)
            .join(Unit, Unit.id == Officer.unit_id)
            .where(UnansweredQuestion.status == status, *_scope_filter(ctx))
            .order_by(*order)
            .limit(limit)
        )
    ).all()
    return [
        {"q": row[0], "name": row.name, "badge": row.badge, "active": row.active, "unit": row.unit,
         "age": (ctx.now - row[0].created_at).total_seconds()}
        for row in rows
    ]


async def queue_figures(ctx: PageContext) -> dict[str, Any]:
    """Sizes up the open queue: how many, the oldest, and how many by age."""
    now = ctx.now
    created = UnansweredQuestion.created_at
    row = (
        await ctx.session.execute(
            select(
                func.count(),
                func.min(created),
                func.sum(case((created > now - timedelta(days=1), 1), else_=0)),
                func.sum(case((created.between(now - timedelta(days=3), now - timedelta(days=1)), 1), else_=0)),
                func.sum(case((created < now - timedelta(days=3), 1), else_=0)),
            )
            .select_from(UnansweredQuestion)
            .join(Officer, Officer.id == UnansweredQuestion.officer_id)
            .where(UnansweredQuestion.status == OPEN, *_scope_filter(ctx))
        )
    ).one()
    oldest = row[1]
    return {
        "open": int(row[0] or 0),
        "oldest_age": (now - oldest).total_seconds() if oldest is not None else None,
        "by_age": [int(row[2] or 0), int(row[3] or 0), int(row[4] or 0)],
    }


async def questions_panel(ctx: PageContext) -> Markup:
    """Renders the overview's figures of the unanswered queue."""
    _ = ctx._
    figures = await queue_figures(ctx)
    labels = [_("under 1 day"), _("1-3 days"), _("over 3 days")]
    chart = histogram(list(zip(labels, figures["by_age"], strict=True)), title=_("Unanswered questions by age"), css="seg-question")
    oldest = await queue(ctx, status=OPEN, limit=PANEL_OLDEST)
    return ctx.fragment("overview/questions.html", figures=figures, chart=chart, oldest=oldest)


def _done(ctx: PageContext, code: str | None, name: str | None) -> dict[str, str] | None:
    if not code or code not in DONE_MESSAGES:
        return None
    kind = "good" if code in ("answered", "saved", "edited", "retired") else "warn"
    return {"kind": kind, "text": ctx._(DONE_MESSAGES[code]).format(name=name or "")}


def create_router() -> APIRouter:
    """Builds the question and guidance pages."""
    router = APIRouter()

    async def render_queue(ctx: PageContext, *, flash: dict[str, str] | None = None, status_code: int = 200,
                           draft: dict[int, str] | None = None) -> HTMLResponse:
        items = await queue(ctx, status=OPEN, limit=QUEUE_SHOWN)
        figures = await queue_figures(ctx)
        return ctx.render("questions/queue.html", status_code=status_code, items=items, figures=figures, flash=flash,
                          draft=draft or {})

    @router.get("/questions")
    async def open_questions(ctx: Annotated[PageContext, Depends(page(*ROLES))], done: str | None = None,
                             name: str | None = None) -> HTMLResponse:
        """Lists the open referred questions, oldest first, each with an answer form."""
        return await render_queue(ctx, flash=_done(ctx, done, name))

    @router.post("/questions/{question_id}/answer")
    async def answer(question_id: int, ctx: Annotated[PageContext, Depends(page(*ROLES))], answer: Annotated[str, Form()] = "") -> Response:
        """Answers a question; the answer reaches the officer who asked through the outbox."""
        item = await ctx.session.get(UnansweredQuestion, question_id)
        asker = await ctx.session.get(Officer, item.officer_id) if item is not None else None
        if item is None or asker is None or not ctx.viewer.scope.sees(asker.unit_id):
            raise HTTPException(status_code=404)
        try:
            result = await curation.answer_and_notify(
                session=ctx.session, question_id=question_id, answer=answer, officer=ctx.viewer.officer
            )
        except CurationError as exc:
            flash = {"kind": "bad", "text": error_text(ctx, exc)}
            return await render_queue(ctx, flash=flash, status_code=409 if exc.code == "already_answered" else 400,
                                      draft={question_id: answer})
        await ctx.audit("desk.question_answered", target_type="kb_question", target_id=question_id,
                        detail={"delivery": result.delivery})
        if result.delivery == AnswerDelivery.INACTIVE:
            code = "answered_inactive"
        elif asker.telegram_user_id is None or not asker.reachable:
            code = "answered_held"
        else:
            code = "answered"
        return RedirectResponse(ctx.url("/questions/answered", done=code, name=asker.name), status_code=303)

    @router.get("/questions/answered")
    async def answered(ctx: Annotated[PageContext, Depends(page(*ROLES))], done: str | None = None,
                       name: str | None = None) -> HTMLResponse:
        """Lists the latest answered questions, with a button to keep an answer as guidance."""
        items = await queue(ctx, status=ANSWERED, limit=ANSWERED_SHOWN)
        return ctx.render("questions/answered.html", items=items, flash=_done(ctx, done, name))

    @router.post("/questions/{question_id}/guidance")
    async def save_guidance(question_id: int, ctx: Annotated[PageContext, Depends(page(*ROLES))], title: Annotated[str, Form()] = "") -> Response:
        """Keeps an answered question as curated guidance in the knowledge base."""
        item = await ctx.session.get(UnansweredQuestion, question_id)
        asker = await ctx.session.get(Officer, item.officer_id) if item is not None else None
        if item is None or asker is None or not ctx.viewer.scope.sees(asker.unit_id):
            raise HTTPException(status_code=404)
        try:
            entry = await curation.save_as_guidance(
                session=ctx.session, settings=ctx.settings, question_id=question_id, officer=ctx.viewer.officer,
                title=title,
            )
        except CurationError as exc:
            items = await queue(ctx, status=ANSWERED, limit=ANSWERED_SHOWN)
            return ctx.render("questions/answered.html", status_code=409, items=items,
                              flash={"kind": "bad", "text": error_text(ctx, exc)})
        return RedirectResponse(ctx.url("/guidance", done="saved", name=entry.name), status_code=303)

    @router.get("/guidance")
    async def guidance(ctx: Annotated[PageContext, Depends(page(*ROLES))], retired: bool = False, done: str | None = None,
                       name: str | None = None) -> HTMLResponse:
        """Lists the curated guidance (or the retired entries), newest first."""
        entries = curation.list_guidance(ctx.settings, retired=retired)
        return ctx.render("questions/guidance.html", entries=entries, retired=retired, flash=_done(ctx, done, name))

    @router.get("/guidance/{name}")
    async def guidance_entry(name: str, ctx: Annotated[PageContext, Depends(page(*ROLES))]) -> HTMLResponse:
        """Shows one guidance entry with its edit and retire forms."""
        try:
            entry = curation.get_guidance(ctx.settings, name)
        except CurationError:
            entry = None
        if entry is None:
            raise HTTPException(status_code=404)
        return ctx.render("questions/guidance_edit.html", entry=entry, form=None, flash=None)

    @router.post("/guidance/{name}")
    async def guidance_edit(
        name: str,
        ctx: Annotated[PageContext, Depends(page(*ROLES))],
        title: Annotated[str, Form()] = "",
        question: Annotated[str, Form()] = "",
        answer: Annotated[str, Form()] = "",
    ) -> Response:
        """Saves an edited guidance entry; the old text stays in the audit log."""
        try:
            entry = await curation.edit_guidance(
                session=ctx.session, settings=ctx.settings, name=name, title=title, question=question, answer=answer,
                officer=ctx.viewer.officer,
            )
        except CurationError as exc:
            current = None
            with contextlib.suppress(CurationError):
                current = curation.get_guidance(ctx.settings, name)
            if current is None:
                raise HTTPException(status_code=404) from None
            return ctx.render(
                "questions/guidance_edit.html", status_code=400, entry=current,
                form={"title": title, "question": question, "answer": answer},
                flash={"kind": "bad", "text": error_text(ctx, exc)},
            )
        return RedirectResponse(ctx.url("/guidance", done="edited", name=entry.name), status_code=303)

    @router.post("/guidance/{name}/retire")
    async def guidance_retire(name: str, ctx: Annotated[PageContext, Depends(page(*ROLES))], reason: Annotated[str, Form()] = "") -> Response:
        """Retires a guidance entry: officers are no longer shown it; the file is kept aside."""
        try:
            entry = await curation.retire_guidance(
                session=ctx.session, settings=ctx.settings, name=name, officer=ctx.viewer.officer, reason=reason
            )
        except CurationError:
            raise HTTPException(status_code=404) from None
        return RedirectResponse(ctx.url("/guidance", done="retired", name=entry.name), status_code=303)

    return router


def module() -> DeskModule:
    """The legal brigade's questions and guidance, and the overview's queue panel."""
    return DeskModule(
        name="questions",
        router=create_router(),
        nav=(
            NavItem("questions", "/questions", "Questions", frozenset(ROLES), 20),
            NavItem("guidance", "/guidance", "Guidance", frozenset(ROLES), 21),
        ),
        panels=(OverviewPanel("questions", frozenset(ROLES), questions_panel),),
    )
