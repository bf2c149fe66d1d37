"""Hypothesis profiles for the property tests.

``ci`` (the default) keeps ``tests/property`` well under two minutes on a 2-core box;
``INVITEBOT_HYPOTHESIS_PROFILE=thorough`` runs ten times as many examples, for a longer local
hunt. Examples are not stored between runs (``database=None``): a failure is reported with
its example, which belongs in an ``@example(...)`` once the bug is fixed.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "database": None,
    "print_blob": True,
}

settings.register_profile("ci", max_examples=60, **_COMMON)
settings.register_profile("thorough", max_examples=600, **_COMMON)
settings.register_profile("quick", max_examples=10, **_COMMON)
settings.load_profile(os.environ.get("INVITEBOT_HYPOTHESIS_PROFILE", "ci"))
