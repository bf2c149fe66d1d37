"""The Telegram adapter: Bot API updates in, neutral events to the engine, inline keyboards out.

``render`` turns replies into message text and inline keyboards, ``bot`` holds the aiogram
router that translates updates, and ``webhook`` is the ``POST /telegram/webhook`` route.
"""
