"""Loading ``policies.toml``: TOML syntax, schema and cross-policy checks, each error located."""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.idc import is_idc_group
from core.policy.cedar_rules import CedarForbid, CedarPermit
from core.policy.file import PolicyFile
from core.policy.schema import ManualApprovalPolicy, Targets


class PolicyError(ValueError):
    """The policy file is wrong; ``errors`` are located lines such as ``deny[0].block: …``."""

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors = list(errors)
        super().__init__(f"{source}: {len(self.errors)} error(s)\n" + "\n".join(f"  {e}" for e in self.errors))


def format_location(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "tagged-union", "json-or-python")):
            continue
        else:
            out += f".{part}" if out else part
    return out or "(file)"


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _schema_errors(err: ValidationError) -> list[str]:
    lines = []
    items = err.errors(include_url=False)
    failed = [tuple(i["loc"]) for i in items]
    for item in items:
        here = tuple(item["loc"])
        if item["type"] == "too_short" and any(len(f) > len(here) and f[: len(here)] == here for f in failed):
            continue  # a consequence of the located errors inside it
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith(("function-", "timedelta")))]
        message = _clean(item["msg"])
        if item["type"] == "extra_forbidden":
            message = "is not a known setting (check its spelling)"
        lines.append(f"{format_location(loc)}: {message}")
    return lines


def targets_overlap(a: Targets, b: Targets) -> str | None:
    """If some node could match both targets, say which one; ``None`` when they are disjoint."""
    if a.accounts and b.accounts and not set(a.accounts) & set(b.accounts):
        return None
    if a.all or b.all:
        return "every node" if a.all and b.all else None
    if not (a.nodes or a.tags or b.nodes or b.tags):  # both name accounts only
        return "every node in account " + sorted(set(a.accounts) & set(b.accounts))[0]
    if a.nodes and b.nodes:
        shared = sorted(set(a.nodes) & set(b.nodes))
        return f"node {shared[0]}" if shared else None
    if a.tags and b.tags:
        if any(b.tags.get(k, v) != v for k, v in a.tags.items()):
            return None
        merged = {**a.tags, **b.tags}
        return "a node tagged " + ", ".join(f"{k}={v}" for k, v in sorted(merged.items()))
    return None


def _overlaps(manual: Sequence[ManualApprovalPolicy]) -> list[str]:
    errors = []
    for (i, a), (j, b) in itertools.combinations(enumerate(manual), 2):
        if a.targets.specificity != b.targets.specificity:
            continue
        witness = targets_overlap(a.targets, b.targets)
        if witness:
            errors.append(
                f"manual_approval[{j}].targets: '{b.name}' and manual_approval[{i}] '{a.name}' are equally "
                f"specific and both match {witness}; make one more specific or split their targets"
            )
    return errors


def _cross_checks(policies: PolicyFile) -> list[str]:
    errors = []
    seen: dict[str, str] = {}
    for kind in ("deny", "auto_approval", "manual_approval"):
        for index, policy in enumerate(getattr(policies, kind)):
            where = f"{kind}[{index}]"
            if policy.name in seen:
                errors.append(f"{where}.name: '{policy.name}' is already the name of {seen[policy.name]}")
            seen.setdefault(policy.name, where)
    errors.extend(_overlaps(policies.manual_approval))
    if policies.identity_center is None:
        for where, entries in policies.principal_lists():
            errors += [f"{where}[{i}]: '{entry}' names an IAM Identity Center group, but the file has no "
                       "[identity_center] table saying which identity store to read it from"
                       for i, entry in enumerate(entries) if is_idc_group(entry)]
    return errors


def _with_cedar(policies: PolicyFile, source: str, base: Path | None) -> PolicyFile:
    """Compile ``[settings] cedar_policies`` (relative to the policy file) and attach it, or raise located errors."""
    name = policies.settings.cedar_policies
    if not name:
        return policies
    try:
        from core.policy.cedar import CedarError, load_cedar  # cedarpy is an optional extra: only when used
    except ImportError:
        raise PolicyError(source, ["settings.cedar_policies: Cedar needs the cedarpy package "
                                   "(pip install 'jitbot[cedar]')"]) from None
    path = Path(name) if Path(name).is_absolute() else (base if base is not None else Path(source).parent) / name
    try:
        rules = load_cedar(path, name)
    except CedarError as err:
        raise PolicyError(source, err.errors) from None
    toml_names = {p.name: kind for kind in ("deny", "auto_approval", "manual_approval")
                  for p in getattr(policies, kind)}
    statements: list[CedarPermit | CedarForbid] = [*rules.permits, *rules.forbids]
    clashes = [f"{p.origin}: @id '{p.name}' is already the name of a policy in [[{toml_names[p.name]}]]"
               for p in statements if p.name in toml_names]
    if clashes:
        raise PolicyError(source, clashes)
    if policies.identity_center is None and rules.idc_groups:
        raise PolicyError(source, [f"{where}: AWS::IdentityStore::Group::\"{group}\" is an IAM Identity Center group "
                                   "id, but the policy file has no [identity_center] table saying which identity store "
                                   "to read it from" for group, where in sorted(rules.idc_groups.items())])
    return policies.with_cedar(rules)


def parse_policies(text: str, source: str = "policies.toml", base: Path | None = None) -> PolicyFile:
    """Parse a policy file's text; ``base`` is the folder ``cedar_policies`` is relative to (default: the
    folder of ``source``)."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(source, [f"TOML syntax: {err}"]) from None
    except RecursionError:
        raise PolicyError(source, ["TOML syntax: arrays or tables nested too deeply"]) from None
    try:
        policies = PolicyFile.model_validate(raw)
    except ValidationError as err:
        raise PolicyError(source, _schema_errors(err)) from None
    errors = _cross_checks(policies)
    if errors:
        raise PolicyError(source, errors)
    return _with_cedar(policies, source, base)


def read_policy_file(path: str | Path) -> bytes:
    """The policy file's bytes, or a located ``PolicyError`` saying why it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise PolicyError(str(path), [f"cannot read the file: {err.strerror or err}"]) from None


def parse_policy_bytes(data: bytes, source: str) -> PolicyFile:
    """``parse_policies`` on the file's bytes: UTF-8, universal newlines (so a caller can hash exactly what
    was parsed: ``bot.policies``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(source, ["the file is not UTF-8 text"]) from None
    return parse_policies(text.replace("\r\n", "\n").replace("\r", "\n"), source)


def load_policies(path: str | Path) -> PolicyFile:
    return parse_policy_bytes(read_policy_file(path), str(path))
