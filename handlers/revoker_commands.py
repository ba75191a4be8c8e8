"""``/jit revoke``, ``/jit lockout`` and ``/jit unlock``: parse, call one use case, answer ephemerally."""

from __future__ import annotations

from core import lockout, revokers
from core.context import Context
from core.errors import InvalidInput
from core.i18n import T, Tr
from handlers import parsing


def revoke_command(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    request_id = parsing.request_id(parsed, "revoke")
    reason = parsing.after_first(parsed)
    if not reason:
        raise InvalidInput(T("Say why. {usage}", usage=parsing.usage("revoke")))
    done = revokers.revoke(ctx, request_id, user, reason)
    if done.granted_at is None:
        return tr("Request *{id}* of <@{requester}> is revoked; it had not been granted, and never will be.",
                  id=done.id, requester=done.requester)
    if done.needs_cleanup:
        return tr("Access *{id}* of <@{requester}> is revoked. AWS has not confirmed the removal of the permission "
                  "yet: jitbot keeps trying, and the audit channel hears when it is done.",
                  id=done.id, requester=done.requester)
    return tr("Access *{id}* of <@{requester}> is revoked; the permission is removed.",
              id=done.id, requester=done.requester)


def lockout_command(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    person = parsing.person(parsed, "lockout")
    done = lockout.lockout(ctx, user, person, parsing.after_first(parsed))
    target = done.lockout.user_id
    ended = tr.plural("{count} live request ended ({ids})", "{count} live requests ended ({ids})",
                      len(done.ended), ids=", ".join(done.ended)) \
        if done.ended else tr("they had no live request")
    missed = " " + tr("{ids} changed meanwhile and will not be granted.", ids=", ".join(done.missed)) \
        if done.missed else ""
    return tr(":no_entry: <@{target}> is locked out: {ended}.{missed} Their requests are refused until "
              "`/jit unlock <@{target}>`.", target=target, ended=ended, missed=missed)


def unlock_command(ctx: Context, user: str, parsed: parsing.Parsed, tr: Tr) -> str:
    person = parsing.person(parsed, "unlock")
    target = lockout.unlock(ctx, user, person, parsing.after_first(parsed))
    return tr(":unlock: <@{target}> is unlocked: their requests are accepted again.", target=target)
