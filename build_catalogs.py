"""Compiles the message catalogs when the package is built or installed.

setuptools runs this ``build_py`` (``[tool.setuptools.cmdclass]`` in pyproject.toml): each
``bot/locales/<language>/LC_MESSAGES/invitebot.po`` under version control becomes the
``invitebot.mo`` that ``bot/language.py`` loads. A wheel gets the ``.mo`` files in its build
directory; an editable install (``pip install -e .``) writes them beside the ``.po`` files
(they are ignored by git). A ``.po`` that fails to compile stops the build.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools.command.build_py import build_py as _build_py

CATALOGS = Path("bot") / "locales"
SOURCE_KEY = "invitebot:source-sha256"
"""A message every compiled catalog carries: the SHA-256 of the ``.po`` it was compiled from,
by which ``bot/language.py`` knows the ``.mo`` is current (file times are no guide: pip does
not keep them)."""


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Every ``.po`` under ``source/bot/locales`` compiled to the same place under
    ``target``; the ``.mo`` paths written."""
    written = []
    for po in sorted((source / CATALOGS).glob("*/LC_MESSAGES/*.po")):
        written_po = po.read_bytes()
        with po.open("rb") as text:
            catalog = read_po(text, locale=po.parent.parent.name, abort_invalid=True)
        catalog.add(SOURCE_KEY, hashlib.sha256(written_po).hexdigest())
        mo = target / po.relative_to(source).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as compiled:
            write_mo(compiled, catalog)
        written.append(mo)
    return written


class build_py(_build_py):
    """setuptools' ``build_py``, then the catalogs compiled."""

    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        target = root if self.editable_mode else Path(self.build_lib)
        compile_catalogs(root, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        root = Path(__file__).resolve().parent
        mos = [
            str(Path(self.build_lib) / po.relative_to(root).with_suffix(".mo"))
            for po in (root / CATALOGS).glob("*/LC_MESSAGES/*.po")
        ]
        return [*outputs, *mos]
