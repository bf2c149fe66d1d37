"""Copies domain entities to table rows and back, one generic mapper for every table.

Entities and rows share their field names (see :mod:`storage.tables`), so a mapping is a copy
of every field plus the two conversions the types need: enums go in as their string value and
come back as the enum; datetimes are made aware UTC by the column type itself
(:class:`storage.tables.UTCDateTime`), which also covers datetimes used as query parameters.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlmodel import SQLModel

E = TypeVar("E")
R = TypeVar("R", bound=SQLModel)


def _enum_type(annotation: Any) -> type[Enum] | None:
    """The enum class an annotation names, also inside ``X | None``; else ``None``."""
    if isinstance(annotation, type):
        return annotation if issubclass(annotation, Enum) else None
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            if (found := _enum_type(member)) is not None:
                return found
    return None


class RowMapper(Generic[E, R]):
    """Converts between one entity dataclass and its SQLModel table class.

    Rows handed out by the mapper are new objects, and so are entities: mutating an entity
    returned by a repository never changes the session's row behind the repository's back.
    """

    def __init__(self, entity_type: type[E], row_type: type[R]) -> None:
        if not dataclasses.is_dataclass(entity_type):
            raise TypeError(f"{entity_type.__name__} is not a dataclass")
        self.entity_type = entity_type
        self.row_type = row_type
        self._names = tuple(f.name for f in dataclasses.fields(entity_type))
        table = row_type.__table__  # type: ignore[attr-defined]
        columns = set(table.columns.keys())
        if columns != set(self._names):
            raise TypeError(
                f"{row_type.__name__} does not mirror {entity_type.__name__}: "
                f"missing columns {sorted(set(self._names) - columns)}, "
                f"extra columns {sorted(columns - set(self._names))}"
            )
        self.statements: dict[tuple[str, str], Any] = {}
        """Statements built once (see ``storage.repositories``), by name and dialect."""
        self.key: tuple[str, ...] = tuple(column.name for column in table.primary_key)
        """The primary key's column names (also the entity's field names)."""
        hints = typing.get_type_hints(entity_type)
        self._enums = {
            name: enum_type
            for name in self._names
            if (enum_type := _enum_type(hints[name])) is not None
        }

    @property
    def table(self) -> Table:
        return self.row_type.__table__  # type: ignore[attr-defined,no-any-return]

    def to_values(self, entity: E) -> dict[str, Any]:
        """Every field of ``entity`` as a column value (deep copies; enums as strings)."""
        values = {}
        for name in self._names:
            value = getattr(entity, name)
            if isinstance(value, dict | list):  # JSON: the entity's own copy
                value = copy.deepcopy(value)
            values[name] = value
        for name in self._enums:
            if values[name] is not None:
                values[name] = values[name].value
        return values

    def values_of(self, row: R) -> dict[str, Any]:
        """Every column of an ORM row."""
        return {name: getattr(row, name) for name in self._names}

    def to_row(self, entity: E) -> R:
        """A new, transient row holding every field of ``entity``."""
        return self.row_type(**self.to_values(entity))

    def to_entity(self, row: R) -> E:
        """A new entity holding every column of ``row``, enums restored."""
        return self.to_entity_from(self.values_of(row))

    def to_entity_from(self, columns: Mapping[str, Any]) -> E:
        """A new entity from column values (a row read with Core), enums restored; JSON
        values are copied, so the entity never shares them with ``columns``."""
        values = {}
        for name in self._names:
            value = columns[name]
            if isinstance(value, dict | list):
                value = copy.deepcopy(value)
            values[name] = value
        for name, enum_type in self._enums.items():
            if values[name] is not None:
                values[name] = enum_type(values[name])
        return self.entity_type(**values)
