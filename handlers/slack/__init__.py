"""The Slack adapter: slash commands, direct messages, buttons and the App Home tab.

``render`` turns replies into Block Kit, ``client`` makes the Web API client, ``bot`` holds
the slack-bolt app that translates Slack's requests into the engine's events, ``webhook`` is
the ``POST /slack/events`` route, ``socket_mode`` the alternative without a public URL,
``sender`` delivers heads' notifications, and ``wiring`` builds each of them from the
settings (``slack_edge`` for the app). slack-bolt is imported only through this package, and
the app imports this package only when Slack is configured.
"""
