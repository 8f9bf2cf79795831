"""Reads CSV and XLSX tables row by row, keeping each row's line number for error reports."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import openpyxl


class TableError(Exception):
    """A file that cannot be read as a table at all."""


@dataclass(frozen=True)
class Row:
    """One data row: its line number in the file (the header is line 1) and its cells by column."""

    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        """Returns a cell, stripped, or the empty string."""
        return (self.values.get(column) or "").strip()


class Table(list[Row]):
    """The data rows of a table, with its normalised column names (header) alongside."""

    def __init__(self, rows: list[Row], header: list[str]) -> None:
        super().__init__(rows)
        self.header = header


@dataclass(frozen=True)
class RowError:
    """Why one row was refused."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TableError("the file is neither UTF-8 nor GB18030 text")


def _normal(header: object) -> str:
    return str(header or "").strip().lower().replace(" ", "_")


def read_table(path: Path) -> Table:
    """Reads a .csv or .xlsx file into rows keyed by lower-case column names."""
    if not path.exists():
        raise TableError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.reader(io.StringIO(_decode(path.read_bytes())))
        records = [(i + 1, row) for i, row in enumerate(reader)]
    elif suffix in (".xlsx", ".xlsm"):
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a broken file
            raise TableError(f"cannot open workbook: {exc}") from exc
        sheet = book.worksheets[0]
        records = [
            (i + 1, ["" if cell is None else _cell_text(cell) for cell in row])
            for i, row in enumerate(sheet.iter_rows(values_only=True))
        ]
        book.close()
    else:
        raise TableError(f"unsupported file type {suffix or '(none)'}: use .csv or .xlsx")
    if not records:
        raise TableError("the file is empty")
    header = records[0][1]
    columns = [_normal(h) for h in header]
    rows: list[Row] = []
    for line, cells in records[1:]:
        if not any(str(c).strip() for c in cells):
            continue
        values = {col: str(cells[i]).strip() if i < len(cells) else "" for i, col in enumerate(columns) if col}
        if len(cells) > len(columns) and any(str(c).strip() for c in cells[len(columns):]):
            values["__extra__"] = "yes"
        rows.append(Row(line=line, values=values))
    return Table(rows, [c for c in columns if c])


def _cell_text(cell: object) -> str:
    from datetime import date, datetime

    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ") if (cell.hour, cell.minute, cell.second) != (0, 0, 0) else cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)
