"""manifest.yaml asks for the least the code needs: every Web API call made by handlers/ and bot/ has its
scope, and every scope is needed by some call or feature; the features match the listeners."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml  # PyYAML comes with moto[server], a test dependency

from handlers import ids

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("admin", "apps", "auth", "bookmarks", "bots", "chat", "conversations", "dnd", "emoji", "files",
            "pins", "reactions", "reminders", "search", "team", "usergroups", "users", "views")
#: the bot scopes each Web API method needs (https://api.slack.com/methods); an empty set: none
SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.delete": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.getPermalink": set(),
    "conversations.open": {"im:write"},
    "conversations.info": {"channels:read", "groups:read"},
    "conversations.members": {"channels:read", "groups:read"},
    "usergroups.list": {"usergroups:read"},
    "usergroups.users.list": {"usergroups:read"},
    "users.info": {"users:read", "users:read.email"},  # jitbot reads the profile's email ([identities])
    "users.lookupByEmail": {"users:read.email"},
    "users.list": {"users:read"},  # `/jit lockout @name`: the member with that handle
    "views.open": set(),
    "views.push": set(),
    "views.update": set(),
    "views.publish": set(),
}


def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yaml").read_text("utf-8"))  # type: ignore[no-any-return]


def _sources() -> list[Path]:
    files = list((ROOT / "handlers").rglob("*.py")) + list((ROOT / "bot").rglob("*.py"))
    return [f for f in files if "fakes" not in f.relative_to(ROOT).parts]


def web_api_calls() -> dict[str, set[str]]:
    """Web API methods called in the code, each with the files that call it: ``client.chat_postMessage(…)``,
    ``client.api_call("chat.update", …)``, the notifier's ``self._must("conversations.open", …)`` (also when handed to
    ``partial``), or ``handlers.slack_api``'s ``call(client, "chat.update", …)`` / ``must(…)``."""
    found: dict[str, set[str]] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "partial":
                name = "partial"
            elif isinstance(node.func, ast.Attribute):
                name = node.func.attr
            elif isinstance(node.func, ast.Name):
                name = node.func.id
            else:
                continue
            method = None
            if name in ("api_call", "_call", "_must") and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            elif name in ("call", "must") and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                method = str(node.args[1].value)  # handlers.slack_api: call(client, "chat.update", …)
            elif (name == "partial" and len(node.args) > 1 and isinstance(node.args[0], ast.Attribute)
                  and node.args[0].attr == "_must" and isinstance(node.args[1], ast.Constant)):
                method = str(node.args[1].value)
            elif (isinstance(node.func, ast.Attribute) and name.split("_", 1)[0] in FAMILIES and "_" in name
                  and "client" in ast.unparse(node.func.value).lower()):
                method = name.replace("_", ".")
            if method:
                found.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_call_has_its_scope_and_every_scope_a_call() -> None:
    calls = web_api_calls()
    assert {"chat.postMessage", "chat.update", "conversations.open", "users.info", "usergroups.users.list",
            "views.open", "views.update", "views.publish"} <= set(calls), calls
    unknown = {m: sorted(where) for m, where in calls.items() if m not in SCOPES}
    assert not unknown, f"add these methods and their scopes to SCOPES (and manifest.yaml): {unknown}"
    manifest = _manifest()
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    features = manifest["features"]
    needed = set().union(*(SCOPES[m] for m in calls))
    if features.get("slash_commands") or features.get("shortcuts"):
        needed.add("commands")
    assert granted >= needed, f"missing scopes: {sorted(needed - granted)}"
    assert granted <= needed, f"scopes no call needs: {sorted(granted - needed)}"
    assert "user" not in manifest["oauth_config"]["scopes"]  # jitbot acts as its bot only


def test_features_match_the_listeners() -> None:
    manifest = _manifest()
    features, settings = manifest["features"], manifest["settings"]
    [command] = features["slash_commands"]
    assert command["command"] == "/jit"
    [shortcut] = features["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("global", ids.SHORTCUT_REQUEST)
    assert shortcut["name"] == "Request node access"
    assert features["app_home"]["home_tab_enabled"] and features["app_home"]["messages_tab_enabled"]
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert settings["interactivity"]["is_enabled"] is True
    urls = [command["url"], settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"],
            settings["interactivity"]["message_menu_options_url"]]
    assert all(u.startswith("https://") and u.endswith("/slack/events") for u in urls)  # one Request URL
    assert settings["socket_mode_enabled"] is False  # HTTP by default; SLACK_APP_TOKEN switches serve over
    listeners = "\n".join(p.read_text("utf-8") for p in _sources())
    for registration in ('app.command("/jit")', "app.shortcut(ids.SHORTCUT_REQUEST)", "app.options(ids.NODE_INPUT)",
                         'app.event("app_home_opened")'):
        assert registration in listeners, registration
