"""``/jit explain`` and ``/jit breakglass``: parse, call one use case, answer ephemerally."""

from __future__ import annotations

from core.breakglass import BreakglassInput, breakglass
from core.context import Context
from core.durations import looks_like_duration
from core.errors import InvalidInput
from core.explain_nodes import explain_for
from core.i18n import T, Tr
from core.model import State
from core.selection import is_selector
from handlers.parsing import Parsed, usage
from handlers.replies import state_name
from handlers.text import escape, when


def explain_command(ctx: Context, user: str, parsed: Parsed, tr: Tr) -> str:
    if not parsed.args:
        raise InvalidInput(T("Which node? {usage}", usage=usage("explain")))
    nodes, rest = parsed.args[0], list(parsed.args[1:])
    while rest and (nodes.endswith(",") or rest[0].startswith(",")):  # a list written with spaces: web-1, web-2
        nodes, rest = nodes + rest[0], rest[1:]
    if len(rest) > 1 or (rest and not looks_like_duration(rest[0])):
        raise InvalidInput(T("The nodes (one, a list or a tag selector), then an optional duration. {usage}",
                             usage=usage("explain")))
    done = explain_for(ctx, user, nodes, rest[0] if rest else None)
    first, *rest = (escape(tr.text(line)) for line in done.lines)
    return "\n".join([f"*{first}*", *rest])


def breakglass_command(ctx: Context, user: str, parsed: Parsed, tr: Tr) -> str:
    words = list(parsed.args)
    if not words:
        raise InvalidInput(T("Which node? {usage}", usage=usage("breakglass")))
    node, rest = words[0], words[1:]
    if "," in node or is_selector(node) or (rest and rest[0].startswith(",")):
        raise InvalidInput(T("Break-glass is for one node, in an emergency: ask for the others with `/jit request`. "
                             "{usage}", usage=usage("breakglass")))
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
