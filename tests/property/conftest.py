"""Fixtures of the property tests. Their hypothesis profile (see
:mod:`tests.property.profiles`) is loaded by ``tests/conftest.py`` for the whole suite.

``ci`` (the default) keeps ``tests/property`` well under two minutes on a 2-core box and draws
the same examples every run; ``INVITEBOT_HYPOTHESIS_PROFILE=thorough`` runs ten times as many,
drawn anew each run. Examples are not stored between runs (``database=None``): a failure is
reported with its example, which belongs in an ``@example(...)`` once the bug is fixed.
"""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _quiet_http_client_logs() -> None:
    # httpx logs every request at INFO; with long URLs that drowns a failure's report.
    logging.getLogger("httpx").setLevel(logging.WARNING)
