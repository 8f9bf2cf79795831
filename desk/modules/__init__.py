"""Every module of the desk, in menu order.

A module is a file here with a ``module()`` returning a :class:`desk.registry.DeskModule`: its
router, its menu entries and the overview panels it fills. The rights office's applications,
broadcasts and tasks are modules of their own (``rights.py``, ``broadcasts.py``, ``tasks.py``),
each filling its overview slot.
"""

from __future__ import annotations

from desk.registry import DeskModule


def all_modules() -> list[DeskModule]:
    """Lists the desk's modules."""
    from desk.modules import audit, broadcasts, cases, overview, people, questions, rights, signin, tasks

    return [
        signin.module(),
        overview.module(),
        cases.module(),
        questions.module(),
        rights.module(),
        broadcasts.module(),
        tasks.module(),
        people.module(),
        audit.module(),
    ]
