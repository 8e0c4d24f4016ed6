"""Dense ARFF reader (``.arff`` and ``.arff.gz``), e.g. the Mulan multi-target files.

Supports ``numeric``/``real``/``integer`` and nominal (``{a,b,c}``) attributes, ``%``
comments and quoted names/values. Nominal values are coded 0..V-1 in declaration order;
a single nominal target becomes class labels. Sparse rows (``{0 1, 3 2}``), ``string``,
``date`` and ``relational`` attributes are rejected with a message saying how to convert.
"""

from __future__ import annotations

import re
from pathlib import Path

from shrinknets_core.datasets._io import Limits, RawData, TargetColumns
from shrinknets_core.datasets._table import QUOTES, parse_rows
from shrinknets_core.errors import DatasetError

_ATTRIBUTE = re.compile(r"""@attribute\s+('[^']*'|"[^"]*"|\S+)\s+(.+)$""", re.IGNORECASE)
_NUMERIC = {"numeric", "real", "integer"}


def _parse_header(
    path: Path, lines: list[str]
) -> tuple[list[str], dict[int, tuple[str, ...]], int]:
    """Return attribute names, nominal declarations and the index of the first data line."""
    names: list[str] = []
    nominal: dict[int, tuple[str, ...]] = {}
    for number, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        lower = line.lower()
        if lower.startswith("@relation"):
            continue
        if lower.startswith("@data"):
            if not names:
                raise DatasetError(f"{path}: no @attribute lines before @data; declare the columns")
            return names, nominal, number + 1
        match = _ATTRIBUTE.match(line)
        if match is None:
            raise DatasetError(
                f"{path}: line {number + 1} is not an ARFF header line: {line[:60]!r}; "
                "expected @relation, @attribute or @data"
            )
        name, kind = match.group(1).strip(QUOTES), match.group(2).strip()
        if kind.startswith("{"):
            values = kind.strip("{}").split(",")
            nominal[len(names)] = tuple(value.strip().strip(QUOTES) for value in values)
        elif kind.split()[0].lower() not in _NUMERIC:
            raise DatasetError(
                f"{path}: attribute {name!r} (line {number + 1}) has type {kind.split()[0]!r}; "
                "only numeric and nominal attributes are supported: drop or convert that column"
            )
        names.append(name)
    raise DatasetError(f"{path}: no @data line; an ARFF file needs @attribute lines then @data")


def parse_arff(path: Path, text: str, *, target_columns: TargetColumns, limits: Limits) -> RawData:
    """Parse dense ARFF text into features and targets.

    Args:
        path: The file the text came from (for messages).
        text: Decoded file content.
        target_columns: See `TargetColumns`; default the last attribute. For Mulan
            multi-target files pass the number of targets (e.g. 16).
        limits: Row/column limits.

    Raises:
        DatasetError: malformed header, sparse rows, unsupported attribute types, bad
            cells, NaN/inf or missing values (``?``), or limits exceeded.
        ConfigError: target_columns that do not fit the file.
    """
    lines = text.splitlines()
    names, nominal, start = _parse_header(path, lines)
    line_of = [
        number + 1
        for number in range(start, len(lines))
        if lines[number].strip() and not lines[number].lstrip().startswith("%")
    ]
    rows = [lines[number - 1] for number in line_of]
    if not rows:
        raise DatasetError(f"{path}: no data rows after @data; add rows")
    if rows[0].lstrip().startswith("{"):
        raise DatasetError(
            f"{path}: sparse ARFF rows (line {line_of[0]}) are not supported; save the file "
            "as dense ARFF or CSV"
        )
    return parse_rows(
        path,
        rows,
        names=names,
        line_of=line_of,
        delimiter=",",
        quotechar="'",
        target_columns=target_columns,
        limits=limits,
        nominal=nominal,
        text_labels=False,
    )
