"""The conversation's flows, one module each; :mod:`bot.engine` routes events to them.

- :mod:`.common`: ``Turn`` (one step's unit of work, actor, conversation and who the actor
  is), ``Flow`` (the base of a flow that asks questions), the Cancel button.
- :mod:`.basics`: ``/help``, ``/cancel`` and the Cancel button every question carries.
- :mod:`.invite`: ``/invite`` (method → name → contact → summary → Send Invite | Edit |
  Cancel), the one-shot form, a pending invitation to the same contact.
- :mod:`.household`: ``/household`` (members and invitation cards), the cards' buttons (Copy
  Invite Link, Resend, Cancel Invite, OK) and the household page (Slack's home tab).
- :mod:`.join`: ``/join``, ``/start`` and ``/decline``: an access code, an invitation link
  or an account link token (the services are in :mod:`bot.join`).

A new flow is a module here with a :class:`~.common.Flow` subclass, and a few lines in
``Engine.__init__``: its commands, the first word of its button payloads, and (if it asks
questions) its place among the flows whose states are looked up.
"""
