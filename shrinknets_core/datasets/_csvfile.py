"""CSV reader (``.csv`` and ``.csv.gz``).

Format: one row per line, fields separated by ``,`` (or tab / ``;``, sniffed from the first
line), optional ``"`` quotes around a field (no delimiters inside quotes), optional header.
The first line is a header when it is all text, or when some column holds text there but a
number on the next line. A single text target column becomes class labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shrinknets_core.datasets._io import Limits, RawData, TargetColumns
from shrinknets_core.datasets._table import is_number, parse_rows, split_fields
from shrinknets_core.errors import DatasetError


def _sniff_delimiter(line: str) -> str:
    for delimiter in (",", "\t", ";"):
        if delimiter in line:
            return delimiter
    return ","


def _has_header(lines: Sequence[str], delimiter: str) -> bool:
    first = split_fields(lines[0], delimiter)
    if all(not is_number(field) for field in first):
        return True
    if len(lines) == 1:
        return False
    second = split_fields(lines[1], delimiter)
    return any(
        not is_number(a) and a != "" and is_number(b)
        for a, b in zip(first, second, strict=False)
    )


def parse_csv(path: Path, text: str, *, target_columns: TargetColumns, limits: Limits) -> RawData:
    """Parse CSV text into features and targets.

    Args:
        path: The file the text came from (for messages).
        text: Decoded file content.
        target_columns: See `TargetColumns`; default the last column.
        limits: Row/column limits.

    Returns:
        `RawData`.

    Raises:
        DatasetError: empty file, blank lines between rows, ragged rows, text or empty
            cells in numeric columns, NaN/inf, or too many rows/columns.
        ConfigError: target_columns that do not fit the file.
    """
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DatasetError(f"{path}: file is empty; it needs a header or data rows")
    delimiter = _sniff_delimiter(lines[0])
    header = _has_header(lines, delimiter)
    names = split_fields(lines[0], delimiter) if header else None
    rows = lines[1:] if header else lines
    first_line = 2 if header else 1
    if not rows:
        raise DatasetError(f"{path}: has a header but no data rows; add rows below the header")
    blank = next((i for i, line in enumerate(rows) if not line.strip()), None)
    if blank is not None:
        raise DatasetError(
            f"{path}: blank line at line {blank + first_line} between data rows; delete it"
        )
    return parse_rows(
        path,
        rows,
        names=names,
        line_of=range(first_line, first_line + len(rows)),
        delimiter=delimiter,
        quotechar='"',
        target_columns=target_columns,
        limits=limits,
    )
