"""Hypothesis profiles: ``ci`` by default, ``INVITEBOT_HYPOTHESIS_PROFILE=thorough`` for a
ten times longer local hunt (``quick`` for a smoke run).

``ci`` and ``quick`` are derandomized: every run draws the same examples, so whether CI is
green never depends on the draw. ``thorough`` draws anew each run (a fresh random seed, or
``pytest --hypothesis-seed=N`` to replay one); what it finds becomes an ``@example``.

Tests that cost more per example (a request through the app and SQLite) ask for fewer with
:func:`examples`, which scales with the profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("INVITEBOT_HYPOTHESIS_PROFILE", "ci")
SCALE = {"quick": 0.2, "ci": 1.0, "thorough": 10.0}.get(PROFILE, 1.0)

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "database": None,
    "print_blob": True,
}

settings.register_profile("quick", max_examples=10, derandomize=True, **_COMMON)
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=600, **_COMMON)


def load() -> None:
    settings.load_profile(PROFILE if PROFILE in ("quick", "ci", "thorough") else "ci")


def examples(n: int) -> settings:
    """Settings for ``n`` examples in the ``ci`` profile (scaled for the others)."""
    return settings(max_examples=max(1, int(n * SCALE)))
