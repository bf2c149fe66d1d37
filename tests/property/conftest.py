"""Hypothesis profiles for the property tests (see :mod:`tests.property.profiles`).

``ci`` (the default) keeps ``tests/property`` well under two minutes on a 2-core box;
``INVITEBOT_HYPOTHESIS_PROFILE=thorough`` runs ten times as many examples. Examples are not
stored between runs (``database=None``): a failure is reported with its example, which
belongs in an ``@example(...)`` once the bug is fixed.
"""

from __future__ import annotations

import logging

import pytest

from tests.property import profiles

profiles.load()


@pytest.fixture(autouse=True)
def _quiet_http_client_logs() -> None:
    # httpx logs every request at INFO; with long URLs that drowns a failure's report.
    logging.getLogger("httpx").setLevel(logging.WARNING)
