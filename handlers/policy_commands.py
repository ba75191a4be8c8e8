"""``/jit explain`` and ``/jit breakglass``: parse, call one use case, answer ephemerally."""

from __future__ import annotations

from core.breakglass import BreakglassInput, breakglass
from core.context import Context
from core.durations import looks_like_duration
from core.errors import InvalidInput
from core.explain import explain_for
from core.i18n import T, Tr
from core.model import State
from handlers.parsing import Parsed, usage
from handlers.replies import state_name
from handlers.text import escape, when


def explain_command(ctx: Context, user: str, parsed: Parsed, tr: Tr) -> str:
    if not parsed.args:
        raise InvalidInput(T("Which node? {usage}", usage=usage("explain")))
    if len(parsed.args) > 2 or (len(parsed.args) == 2 and not looks_like_duration(parsed.args[1])):
        raise InvalidInput(T("One node and an optional duration. {usage}", usage=usage("explain")))
    done = explain_for(ctx, user, parsed.args[0], parsed.args[1] if len(parsed.args) == 2 else None)
    first, *rest = (escape(tr.text(line)) for line in done.lines)
    return "\n".join([f"*{first}*", *rest])


def breakglass_command(ctx: Context, user: str, parsed: Parsed, tr: Tr) -> str:
    words = list(parsed.args)
    if not words:
        raise InvalidInput(T("Which node? {usage}", usage=usage("breakglass")))
    node, rest = words[0], words[1:]
    duration = None
    if rest and looks_like_duration(rest[0]):
        duration, rest = rest[0], rest[1:]
    if not rest:
        raise InvalidInput(T("Break-glass needs a reason. {usage}", usage=usage("breakglass")))
    request = breakglass(ctx, BreakglassInput(user, node, " ".join(rest), duration))
    settings = ctx.policies().settings
    label = f"`{escape(request.node.id)}`" + (f" ({escape(request.node.name)})" if request.node.name else "")
    level = request.levels[0]
    values = {"channel": level.channel, "level": escape(level.name), "policy": escape(request.policy)}
    told = tr("This use is announced in <#{audit}> and <#{channel}>: level 1 ('{level}') of policy '{policy}' "
              "must review it.", audit=settings.audit_channel, **values) if settings.audit_channel else \
        tr("This use is announced in <#{channel}>: level 1 ('{level}') of policy '{policy}' must review it.", **values)
    if request.state is State.ACTIVE:
        return tr(":rotating_light: Break-glass *{id}*: access to {node} granted until {until}. {told} Connection "
                  "details are in your DMs.", id=request.id, node=label, told=told,
                  until=when(request.expires_at, settings.zone, tr))
    return tr(":rotating_light: Break-glass *{id}* for {node} is {state}. {told}", id=request.id, node=label,
              state=state_name(request.state, tr), told=told)
