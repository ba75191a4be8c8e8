"""``/jit explain`` and ``/jit breakglass``: parse, call one use case, answer ephemerally."""

from __future__ import annotations

from core.breakglass import BreakglassInput, breakglass
from core.context import Context
from core.durations import looks_like_duration
from core.errors import InvalidInput
from core.explain import explain_for
from core.model import State
from handlers.parsing import Parsed
from handlers.text import escape, when

USAGE = {
    "explain": "/jit explain <node> [duration]",
    "breakglass": "/jit breakglass <node> [duration] <reason>",
}


def explain_command(ctx: Context, user: str, parsed: Parsed) -> str:
    if not parsed.args:
        raise InvalidInput(f"Which node? Usage: `{USAGE['explain']}`")
    if len(parsed.args) > 2 or (len(parsed.args) == 2 and not looks_like_duration(parsed.args[1])):
        raise InvalidInput(f"One node and an optional duration. Usage: `{USAGE['explain']}`")
    done = explain_for(ctx, user, parsed.args[0], parsed.args[1] if len(parsed.args) == 2 else None)
    first, *rest = done.lines
    return "\n".join([f"*{escape(first)}*", *(escape(line) for line in rest)])


def breakglass_command(ctx: Context, user: str, parsed: Parsed) -> str:
    words = list(parsed.args)
    if not words:
        raise InvalidInput(f"Which node? Usage: `{USAGE['breakglass']}`")
    node, rest = words[0], words[1:]
    duration = None
    if rest and looks_like_duration(rest[0]):
        duration, rest = rest[0], rest[1:]
    if not rest:
        raise InvalidInput(f"Break-glass needs a reason. Usage: `{USAGE['breakglass']}`")
    request = breakglass(ctx, BreakglassInput(user, node, " ".join(rest), duration))
    settings = ctx.policies().settings
    label = f"`{escape(request.node.id)}`" + (f" ({escape(request.node.name)})" if request.node.name else "")
    where = f"<#{settings.audit_channel}> and " if settings.audit_channel else ""
    level = request.levels[0]
    told = (f"This use is announced in {where}<#{level.channel}>: level 1 ('{escape(level.name)}') of policy "
            f"'{escape(request.policy)}' must review it.")
    if request.state is State.ACTIVE:
        return (f":rotating_light: Break-glass *{request.id}*: access to {label} granted until "
                f"{when(request.expires_at, settings.zone)}. {told} Connection details are in your DMs.")
    return f":rotating_light: Break-glass *{request.id}* for {label} is {request.state.value}. {told}"
