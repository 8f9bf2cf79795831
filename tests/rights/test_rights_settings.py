"""The rights settings: defaults, and a bad value named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings


class TestRightsSettings:
    def test_the_defaults_are_the_published_practice(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """1 working day to accept, 3 to the first feedback, 30 days to decide, reminded 24 h before, 1825 days kept."""
        monkeypatch.chdir(tmp_path)
        s = load_settings(_env_file=None)
        assert (s.rights_accept_working_days, s.rights_feedback_working_days, s.rights_decide_days) == (1, 3, 30)
        assert (s.rights_remind_before_hours, s.rights_retention_days) == (24, 1825)

    @pytest.mark.parametrize(
        ("variable", "value", "expected"),
        [
            ("FRONTLINE_RIGHTS_ACCEPT_WORKING_DAYS", "0", "a number of at least 1"),
            ("FRONTLINE_RIGHTS_DECIDE_DAYS", "400", "a number no greater than 365"),
            ("FRONTLINE_RIGHTS_RETENTION_DAYS", "soon", "a whole number"),
        ],
    )
    def test_a_bad_value_names_the_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
    ) -> None:
        """One line, naming the variable and what is expected."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv(variable, value)
        with pytest.raises(SettingsError) as caught:
            load_settings(_env_file=None)
        assert str(caught.value).startswith(f"{variable}: invalid value") and expected in str(caught.value)
        assert "\n" not in str(caught.value)
