"""The words of rights protection: types, help wanted, outcomes and statuses, with their labels.

Labels are gettext msgids (English); the catalogues (locales/*/LC_MESSAGES/rights.po) carry the
Chinese wording. ``N_`` only marks a string for extraction; it is translated where it is shown.
"""

from __future__ import annotations

from collections.abc import Callable

from core.i18n import gettext_for
from rights.models import Status


def N_(message: str) -> str:  # the gettext convention for "translate later"
    """Marks a msgid for the catalogues without translating it here."""
    return message


# code -> label; the order is the order of the buttons
TYPES: dict[str, str] = {
    "assault": N_("Violent assault on police"),
    "insult": N_("Insult or verbal abuse"),
    "threat": N_("Threats or intimidation"),
    "false_accusation": N_("False accusation"),
    "online": N_("Online exposure / doxxing"),
    "injury": N_("Injured on duty"),
    "relatives": N_("Relatives targeted"),
    "other": N_("Other harm on duty"),
}

HELP: dict[str, str] = {
    "legal_aid": N_("Legal aid"),
    "medical": N_("Medical treatment"),
    "psychological": N_("Psychological support"),
    "clearance": N_("Clearing my name"),
    "relief": N_("Comfort / financial relief"),
    "accountability": N_("Holding the offender to account"),
}

OUTCOMES: dict[str, str] = {
    "clearance": N_("Name cleared"),
    "legal_aid": N_("Legal aid"),
    "care": N_("Medical / psychological care"),
    "relief": N_("Comfort and relief"),
    "referral": N_("Referred for prosecution"),
    "not_supported": N_("Not supported"),
}
# outcomes whose detail is required: what the office must type with them
OUTCOME_DETAIL_REQUIRED: dict[str, str] = {
    "clearance": N_("the text of the clearance notice"),
    "referral": N_("the case number"),
    "not_supported": N_("the reason"),
}

STATUSES: dict[str, str] = {
    Status.SUBMITTED: N_("Awaiting acceptance"),
    Status.ACCEPTED: N_("Accepted by the office"),
    Status.INVESTIGATING: N_("Facts being checked"),
    Status.WAITING: N_("Waiting for your information"),
    Status.DECIDED: N_("Decision made"),
    Status.CLOSED: N_("Concluded"),
    Status.REJECTED: N_("Not accepted"),
    Status.WITHDRAWN: N_("Withdrawn by the applicant"),
}
# the same statuses as the office reads them
OFFICE_STATUSES: dict[str, str] = {
    **STATUSES,
    Status.WAITING: N_("Waiting for the applicant"),
}

STATUS_ICONS: dict[str, str] = {
    Status.SUBMITTED: "🆕",
    Status.ACCEPTED: "📥",
    Status.INVESTIGATING: "🔎",
    Status.WAITING: "⏸",
    Status.DECIDED: "⚖️",
    Status.CLOSED: "✅",
    Status.REJECTED: "⛔",
    Status.WITHDRAWN: "↩️",
}

KINDS: dict[str, str] = {
    "photo": N_("photo"),
    "video": N_("video"),
    "voice": N_("voice note"),
    "document": N_("document"),
}

LIMITS: dict[str, str] = {
    "accept": N_("acceptance"),
    "feedback": N_("first feedback"),
    "decide": N_("the decision"),
}


def translator(language: str) -> Callable[[str], str]:
    """Returns the gettext function of a language."""
    return gettext_for(language)


def label(table: dict[str, str], code: str, language: str) -> str:
    """Returns the label of a code in a language (the code itself when unknown)."""
    msgid = table.get(code)
    return gettext_for(language)(msgid) if msgid else code
