"""``invitebot admin household deactivate|activate`` and ``invitebot admin member remove``:
the board's changes to a household beyond its access code (:mod:`bot.board`). Registered on
the admin app when this module is imported (``handlers.cli_admin`` imports it last)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from .cli_admin import (
    _out,
    _print_code,
    _run,
    _secret_key,
    admin_app,
    household_app,
    load_settings,
)

member_app = typer.Typer(help="Members of households.", no_args_is_help=True)
admin_app.add_typer(member_app, name="member")

Community = Annotated[str, typer.Option(help="The community's name.")]
Address = Annotated[str, typer.Option(help="The household's address.")]


@household_app.command("deactivate")
def household_deactivate(ctx: typer.Context, community: Community, address: Address) -> None:
    """Deactivate a household: open invitations cancelled, no inviting, the code stopped."""
    from bot import board

    from .bootstrap import hoa_contact

    settings = load_settings()
    done = _run(
        ctx,
        settings,
        lambda uow, clock: board.deactivate_household(
            uow,
            community_name=community,
            address=address,
            clock=clock,
            hoa_contact=hoa_contact(settings),
        ),
    )
    invitations = "invitation" if done.cancelled == 1 else "invitations"
    _out().print(
        f"Deactivated {escape(done.household.address)} in {escape(done.community.name)}: "
        f"{done.cancelled} open {invitations} cancelled. "
        "Activate it again with: invitebot admin household activate"
    )


@household_app.command("activate")
def household_activate(
    ctx: typer.Context,
    community: Community,
    address: Address,
    new_code: Annotated[
        bool,
        typer.Option(
            "--new-code", help="Also issue a new access code (the old one stops working)."
        ),
    ] = False,
) -> None:
    """Activate a deactivated household again (cancelled invitations stay cancelled)."""
    from bot import board

    settings = load_settings()
    secret_key = _secret_key(settings) if new_code else b""
    done = _run(
        ctx,
        settings,
        lambda uow, clock: board.activate_household(
            uow,
            community_name=community,
            address=address,
            clock=clock,
            secret_key=secret_key,
            new_code=new_code,
        ),
    )
    console = _out()
    console.print(
        f"Activated {escape(done.household.address)} in {escape(done.community.name)} again."
    )
    if done.issued is not None:
        _print_code(console, done.issued, title="New access code")
        console.print("The previous code no longer works.")
        if done.issued.household.claimed:
            console.print(
                "[yellow]Note: this household is claimed by its head. Whoever types this code "
                "in chat becomes its head (a member of it, or someone new); the head before "
                "stays a member and is told.[/]",
            )


@member_app.command("remove")
def member_remove(
    ctx: typer.Context,
    community: Community,
    address: Address,
    name: Annotated[str, typer.Option(help="The member's full name, as /household shows it.")],
) -> None:
    """Remove a member from a household (the member and the head are told)."""
    from bot import board

    from .bootstrap import hoa_contact

    settings = load_settings()
    done = _run(
        ctx,
        settings,
        lambda uow, clock: board.remove_member_by_board(
            uow,
            community_name=community,
            address=address,
            name=name,
            clock=clock,
            hoa_contact=hoa_contact(settings),
        ),
    )
    _out().print(
        f"Removed {escape(done.member.name)} from {escape(done.household.address)} in "
        f"{escape(done.community.name)}. The member and the head are told."
    )
