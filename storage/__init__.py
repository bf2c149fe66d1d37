"""Storage: SQL tables, repositories and the unit of work, and migrations.

What the rest of the program uses is :class:`Database` (``Database(url).uow`` is the core's
:class:`bot.ports.UnitOfWorkFactory`); :class:`SqlUnitOfWork` is what ``uow()`` returns.
"""

from .database import Database
from .repositories import SqlUnitOfWork

__all__ = ["Database", "SqlUnitOfWork"]
