"""``/jit revoke``, ``/jit lockout`` and ``/jit unlock``: parse, call one use case, answer ephemerally."""

from __future__ import annotations

from core import lockout, revokers
from core.context import Context
from core.errors import InvalidInput
from handlers import parsing


def revoke_command(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    request_id = parsing.request_id(parsed, "revoke")
    reason = parsing.after_first(parsed)
    if not reason:
        raise InvalidInput(f"Say why. {parsing.usage('revoke')}")
    done = revokers.revoke(ctx, request_id, user, reason)
    if done.granted_at is None:
        return f"Request *{done.id}* of <@{done.requester}> is revoked; it had not been granted, and never will be."
    if done.needs_cleanup:
        return (f"Access *{done.id}* of <@{done.requester}> is revoked. AWS has not confirmed the removal of the "
                "permission yet: jitbot keeps trying, and the audit channel hears when it is done.")
    return f"Access *{done.id}* of <@{done.requester}> is revoked; the permission is removed."


def lockout_command(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    person = parsing.person(parsed, "lockout")
    done = lockout.lockout(ctx, user, person, parsing.after_first(parsed))
    target = done.lockout.user_id
    ended = f"{len(done.ended)} live request(s) ended ({', '.join(done.ended)})" if done.ended else \
        "they had no live request"
    missed = (f" {', '.join(done.missed)} changed meanwhile and will not be granted." if done.missed else "")
    return (f":no_entry: <@{target}> is locked out: {ended}.{missed} Their requests are refused until "
            f"`/jit unlock <@{target}>`.")


def unlock_command(ctx: Context, user: str, parsed: parsing.Parsed) -> str:
    person = parsing.person(parsed, "unlock")
    target = lockout.unlock(ctx, user, person, parsing.after_first(parsed))
    return f":unlock: <@{target}> is unlocked: their requests are accepted again."
