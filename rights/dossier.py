"""The printable dossier of one application (.docx): facts, the law, timeline, evidence with hashes,
decisions, and the state of the custody log when it was made."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from docx import Document
from docx.shared import Pt

from rights.custody import VerifyReport
from rights.law import law_for
from rights.models import EvidenceStatus
from rights.render import EVENT_LABELS, fmt_due, fmt_time, occurred_text, place_text
from rights.views import ApplicationView
from rights.vocab import HELP, KINDS, LIMITS, N_, OFFICE_STATUSES, OUTCOMES, TYPES, translator

# table headings and field names of the printed form (Chinese; English uses the keys)
LABELS: dict[str, str] = {
    "Number": "编号",
    "Type": "类型",
    "Status": "状态",
    "Applicant": "申请人",
    "When it happened": "发生时间",
    "Where": "发生地点",
    "People involved": "涉事人员",
    "Help wanted": "诉求",
    "Submitted": "提交时间",
    "Office": "办理单位",
    "Handler": "承办人",
    "Time": "时间",
    "By": "操作人",
    "Step": "事项",
    "Text": "内容",
    "No.": "序号",
    "Kind": "种类",
    "File": "文件名",
    "Size": "大小",
    "Held": "保存情况",
    "stored": "已保存",
    "reference only (not downloaded)": "仅保存引用（未下载）",
    "deleted after the retention period": "保存期满已删除",
    "account": "事情经过",
}


M_TITLE = N_("Rights protection dossier {number}")
M_FACTS = N_("1. The application")
M_ACCOUNT = N_("2. What happened")
M_LAW = N_("3. The law that applies")
M_TIMELINE = N_("4. Timeline")
M_EVIDENCE = N_("5. Evidence")
M_DECISION = N_("6. Decision")
M_CUSTODY = N_("7. Custody log")


def _size(value: int | None) -> str:
    if value is None:
        return ""
    if value >= 1024 * 1024:
        return f"{value / 1024 / 1024:.1f} MB"
    if value >= 1024:
        return f"{value / 1024:.1f} KB"
    return f"{value} B"


def write_dossier(
    path: Path,
    view: ApplicationView,
    *,
    language: str,
    tz: ZoneInfo,
    verified: VerifyReport,
    made_by: str,
    made_at: datetime,
) -> None:
    """Writes the dossier of an application (its view must carry the timeline)."""
    _ = translator(language)

    def L(key: str) -> str:  # reads like _()
        return LABELS[key] if language == "zh" else key

    app = view.application
    document = Document()
    style = document.styles["Normal"]
    style.font.size = Pt(10.5)
    document.add_heading(_(M_TITLE).format(number=app.number), level=0)
    document.add_paragraph(
        _("Made by {who} on {when}. Confidential: for the applicant, the rights office and administrators only.").format(
            who=made_by, when=fmt_time(made_at, tz)
        )
    )

    document.add_heading(_(M_FACTS), level=1)
    facts = [
        (L("Number"), app.number),
        (L("Type"), _(TYPES.get(app.type, app.type))),
        (L("Status"), _(OFFICE_STATUSES.get(app.status, app.status))),
        (L("Applicant"), f"{view.applicant.name} ({view.applicant.badge}), {view.applicant_unit.name}"),
        (L("When it happened"), occurred_text(app.occurred_at, app.occurred_precision, tz, _)),
        (L("Where"), place_text(app.place, app.latitude, app.longitude, _)),
        (L("People involved"), app.people or _("none given")),
        (L("Help wanted"), "、".join(_(HELP[c]) for c in app.help_wanted if c in HELP) or _("none given")),
        (L("Submitted"), fmt_time(app.submitted_at, tz)),
        (L("Office"), view.office_unit.name if view.office_unit else _("none given")),
        (L("Handler"), f"{view.handler.name} ({view.handler.badge})" if view.handler else _("not assigned")),
    ]
    for key in ("accept", "feedback", "decide"):
        due = getattr(app, f"{key}_due_at")
        if due is not None:
            facts.append((_("Time limit for {limit}").format(limit=_(LIMITS[key])), fmt_due(due, tz)))
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for name, value in facts:
        cells = table.add_row().cells
        cells[0].text = name
        cells[1].text = value

    document.add_heading(_(M_ACCOUNT), level=1)
    account = app.account
    if not account:
        voice = [e.ordinal for e in view.evidence if e.purpose == "account"]
        account = _("Told by voice note: evidence no. {n}.").format(n=", ".join(str(n) for n in voice)) if voice else ""
    document.add_paragraph(account or _("not given"))

    document.add_heading(_(M_LAW), level=1)
    found = law_for(app.type)
    for quote in found.quotes:
        heading = _("《{law}》{reference} ({version} version)").format(
            law=quote.law, reference=quote.reference, version=quote.version
        )
        document.add_paragraph(heading, style="List Bullet")
        document.add_paragraph(quote.text)
        if quote.superseded_by:
            document.add_paragraph(
                _("This text has been superseded by {new}; check the text in force.").format(new=quote.superseded_by)
            )
    note = found.notes.get(language) or found.notes.get("zh")
    if note:
        document.add_paragraph(note)

    document.add_heading(_(M_TIMELINE), level=1)
    timeline = document.add_table(rows=1, cols=4)
    timeline.style = "Table Grid"
    for cell, title in zip(timeline.rows[0].cells, (L("Time"), L("By"), L("Step"), L("Text")), strict=True):
        cell.text = title
    for event in view.events:
        cells = timeline.add_row().cells
        cells[0].text = fmt_time(event.at, tz)
        cells[1].text = event.actor
        cells[2].text = _(EVENT_LABELS.get(event.kind, event.kind))
        cells[3].text = event.text or ""

    document.add_heading(_(M_EVIDENCE), level=1)
    evidence = document.add_table(rows=1, cols=6)
    evidence.style = "Table Grid"
    titles = (L("No."), L("Kind"), L("File"), L("Size"), "SHA-256", L("Held"))
    for cell, title in zip(evidence.rows[0].cells, titles, strict=True):
        cell.text = title
    held = {
        EvidenceStatus.STORED: L("stored"),
        EvidenceStatus.REFERENCE: L("reference only (not downloaded)"),
        EvidenceStatus.PURGED: L("deleted after the retention period"),
    }
    for item in view.evidence:
        cells = evidence.add_row().cells
        cells[0].text = str(item.ordinal)
        cells[1].text = _(KINDS.get(item.kind, item.kind)) + (" (" + L("account") + ")" if item.purpose == "account" else "")
        cells[2].text = item.filename or ""
        cells[3].text = _size(item.size or item.declared_size)
        cells[4].text = item.sha256 or ""
        cells[5].text = held.get(EvidenceStatus(item.status), item.status) + " · " + fmt_time(item.received_at, tz)

    document.add_heading(_(M_DECISION), level=1)
    if not view.outcomes:
        document.add_paragraph(_("No decision yet."))
    for outcome in view.outcomes:
        line = f"{_(OUTCOMES.get(outcome.kind, outcome.kind))} — {fmt_time(outcome.at, tz)} — {outcome.decided_by}"
        document.add_paragraph(line, style="List Bullet")
        if outcome.detail:
            document.add_paragraph(outcome.detail)
    if app.reject_reason:
        document.add_paragraph(_("Reason: {reason}").format(reason=app.reject_reason))

    document.add_heading(_(M_CUSTODY), level=1)
    document.add_paragraph(
        _("{n} entries; the newest hash is {head}.").format(n=verified.entries, head=app.custody_head or "-")
    )
    if verified.ok:
        document.add_paragraph(
            _("Checked when this dossier was made: the chain holds and every stored file matches its hash.")
        )
    else:
        document.add_paragraph(_("Checked when this dossier was made: PROBLEMS FOUND"))
        for problem in verified.problems:
            document.add_paragraph(problem, style="List Bullet")
    document.save(str(path))
