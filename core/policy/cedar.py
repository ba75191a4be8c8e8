"""Cedar policies with cedarpy: parsed, validated and located once at load, evaluated per request.

The entity model follows AWS JITNA (``core.policy.cedar_jitna``, docs/policies.md): the principal is an
``AWS::IdentityStore::User`` in its ``AWS::IdentityStore::Group``s, the action
``AWS::SSM::Action::"getTokenForInstanceAccess"``, the resource ``AWS::EC2::Instance::"i-…"`` or
``AWS::SSM::ManagedInstance::"mi-…"`` carrying the node's tags. Imported only when a policy file sets
``cedar_policies``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy
from cedarpy import pst
from pydantic import ValidationError

from core.durations import DurationError, parse_duration
from core.idc import LOOSE_STORE_ID
from core.policy.cedar_jitna import EC2, GROUP, HYBRID, KNOWN_ATTRIBUTES, SCHEMA, USER, entities, normalise
from core.policy.cedar_rules import CedarForbid, CedarOutcome, CedarPermit, CedarRequest
from core.policy.cedar_trust import SELF_EDITED, untrusted_reads
from core.policy.schema import GROUP_ID, NODE_ID, USER_ID

ANNOTATIONS = {"id", "description", "max_duration", "ticket_pattern", "block"}
_SLACK_OR_STORE_GROUP = re.compile(f"{GROUP_ID.pattern}|{LOOSE_STORE_ID.pattern}")
_SLACK_OR_STORE_USER = re.compile(f"{USER_ID.pattern}|{LOOSE_STORE_ID.pattern}")
_ID_PATTERNS = {GROUP: (_SLACK_OR_STORE_GROUP, "a Slack user-group id (S…) nor an Identity Store GroupId"),
                USER: (_SLACK_OR_STORE_USER, "a Slack user id (U… or W…) nor an Identity Store UserId"),
                EC2: (NODE_ID, "an EC2 instance id (i-…)"), HYBRID: (NODE_ID, "a managed node id (mi-…)")}
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9]+)
  | (?P<op>::|==|!=|<=|>=|&&|\|\||.)
""", re.VERBOSE | re.DOTALL)
_EVAL_ERROR = re.compile(r"policy `(policy\d+)`")
MAX_LOCATE_TOKENS = 3000


class CedarError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Statement:
    tokens: tuple[_Token, ...]

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end


def _statements(text: str) -> list[_Statement]:
    """The statements of a Cedar file, split at each ``;`` outside strings and comments."""
    out: list[_Statement] = []
    current: list[_Token] = []
    for match in _TOKEN.finditer(text):
        if match.lastgroup in ("space", "comment"):
            continue
        current.append(_Token(match.start(), match.end(), match.group()))
        if match.group() == ";":
            out.append(_Statement(tuple(current)))
            current = []
    if current:
        out.append(_Statement(tuple(current)))
    return out


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


class _Source:
    """The file as Cedar reads it (``cedar_jitna.normalise``), locating offsets in the file as written."""

    def __init__(self, original: str) -> None:
        self.original = original
        self.text, self._back = normalise(original)

    def where(self, offset: int) -> str:
        return _where(self.original, self._back(offset))


def _named(message: str) -> list[str]:
    """Words an error message names, most telling first: `quoted` ones, then the text after a colon."""
    words = re.findall(r"`([^`]+)`", message)
    if ": " in message:
        words.append(message.rsplit(": ", 1)[1].strip())
    return [w for w in words if w and not w.startswith("policy")]


def _find(statement: _Statement, words: list[str]) -> int:
    """The offset of the first of ``words`` (bare or quoted) in the statement, else the statement's start."""
    for word in words:
        hit = next((t for t in statement.tokens if t.text in (word, f'"{word}"')), None)
        if hit is not None:
            return hit.start
    return statement.start


def _syntax_error(text: str, statement: _Statement) -> tuple[int, str] | None:
    """Where and why one statement does not parse, or None when it parses on its own."""
    try:
        cedarpy.PolicySet.from_str(text[statement.start:statement.end])
    except ValueError as err:
        message = str(err)
    else:
        return None
    if not message.startswith(("unexpected token", "invalid token")):
        for word in _named(message):
            for token in statement.tokens:
                if token.text == word or token.text == f'"{word}"':
                    return token.start, message
    for token in statement.tokens[:MAX_LOCATE_TOKENS]:  # the shortest prefix failing other than at its end
        try:
            cedarpy.PolicySet.from_str(text[statement.start:token.end])
        except ValueError as err:
            if "end of input" not in str(err):
                return token.start, message
    return statement.start, message


def _syntax_errors(src: _Source, source: str, statements: list[_Statement]) -> list[str]:
    errors = []
    for statement in statements:
        found = _syntax_error(src.text, statement)
        if found is not None:
            errors.append(f"{source}:{src.where(found[0])}: {found[1]}")
    return errors or [f"{source}: Cedar cannot parse the file"]


def _schema_errors(src: _Source, source: str, statements: list[_Statement], schema: cedarpy.Schema) -> list[str]:
    result = cedarpy.validate_policies(src.text, schema)
    errors = []
    for error in result.errors:
        message = re.sub(r"^for policy `policy\d+`, ", "", error.error)
        if any(f"attribute `{attr}` on entity type `{USER}`" in message for attr in SELF_EDITED):
            continue  # a self-edited profile field: compile_cedar says why it is not offered
        if message.startswith("unable to guarantee safety of access to"):
            continue  # an unguarded read: AWS's examples have them; a missing one is an evaluation error (decide)
        index = int(error.policy_id[6:]) if error.policy_id.startswith("policy") else -1
        if 0 <= index < len(statements):
            errors.append(f"{source}:{src.where(_find(statements[index], _named(message)))}: {message}")
        else:
            errors.append(f"{source}: {message}")
    return errors


def _entity_errors(where: str, template: pst.Template) -> list[str]:
    errors = []
    for uid in sorted(pst.entity_uids(template), key=str):
        kind = "::".join((*uid.type.namespace, uid.type.basename))
        rule = _ID_PATTERNS.get(kind)
        if rule and not rule[0].match(uid.id):
            errors.append(f'{where}: {kind}::"{uid.id}" is neither {rule[1]}' if kind in (USER, GROUP) else
                          f'{where}: {kind}::"{uid.id}" is not {rule[1]}')
    return errors


def _unknown_attributes(template: pst.Template,
                        known: Mapping[str, tuple[str, ...]] = KNOWN_ATTRIBUTES) -> list[tuple[str, str]]:
    """(variable, attribute) pairs a statement reads or tests that are not in ``known`` (``{}``: every read).

    The validator accepts ``principal has costCenter && …`` (it is simply always false), so a JITNA
    statement using Identity Center attributes would silently never match: say so instead.
    """
    found: list[tuple[str, str]] = []
    stack: list[Any] = [template.clauses]
    while stack:
        node = stack.pop()
        if isinstance(node, pst.HasAttr | pst.GetAttr) and isinstance(node.base, pst.Var):
            attr = node.attrs[0] if isinstance(node, pst.HasAttr) else node.attr
            if attr not in known.get(node.base.name, ()) and (node.base.name, attr) not in found:
                found.append((node.base.name, attr))
        if isinstance(node, tuple):
            stack.extend(reversed(node))
        elif isinstance(node, Mapping):
            stack.extend(node.values())
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            stack.extend(getattr(node, f.name) for f in reversed(dataclasses.fields(node)))
    return found


def _annotation_errors(where: str, effect: str, notes: Mapping[str, str]) -> list[str]:
    errors = [f"{where}: @{key} is not an annotation jitbot knows (use @id, @description, "
              f"@max_duration, @ticket_pattern on permit, @block on forbid)" for key in notes if key not in ANNOTATIONS]
    only = {"max_duration": "permit", "ticket_pattern": "permit", "block": "forbid"}
    for key, wanted in only.items():
        if key in notes and effect != wanted:
            errors.append(f"{where}: @{key} applies to {wanted} statements only")
    if "block" in notes and notes["block"] not in ("auto", "all"):
        errors.append(f'{where}: @block must be "auto" or "all", not "{notes["block"]}"')
    if "max_duration" in notes:
        try:
            parse_duration(notes["max_duration"])
        except DurationError as err:
            errors.append(f"{where}: @max_duration: {err}")
    if "ticket_pattern" in notes:
        try:
            re.compile(notes["ticket_pattern"])
        except (re.error, OverflowError, RecursionError) as err:
            errors.append(f"{where}: @ticket_pattern is not a valid regular expression: {err}")
    if "id" in notes and not notes["id"].strip():
        errors.append(f"{where}: @id is empty")
    return errors


def _policy(where: str, policy_id: str, template: pst.Template, default_name: str) -> CedarPermit | CedarForbid:
    notes = template.annotations
    common: dict[str, Any] = {"name": notes.get("id") or default_name, "description": notes.get("description"),
                              "origin": where, "policy_id": policy_id}
    if template.effect == "forbid":
        return CedarForbid.model_validate({**common, "block": notes.get("block", "auto")})
    if "max_duration" in notes:
        common["max_duration"] = notes["max_duration"]
    return CedarPermit.model_validate({**common, "ticket_pattern": notes.get("ticket_pattern")})


def _only(policies: Mapping[str, pst.Template]) -> cedarpy.PolicySet:
    return cedarpy.PolicySet.from_pst(pst.PolicySet(templates={}, static_policies=dict(policies), template_links=()))


class CedarPolicies:
    """A compiled Cedar file: its statements as jitbot policies, and two policy sets to evaluate."""

    def __init__(self, source: str, statements: list[CedarPermit | CedarForbid], trees: Mapping[str, pst.Template],
                 groups: frozenset[str], idc_groups: Mapping[str, str] | None = None,
                 reads_principal_tags: bool = False) -> None:
        self._source = source
        self._idc_groups = dict(idc_groups or {})
        self._reads_tags = reads_principal_tags
        self._permits = tuple(s for s in statements if isinstance(s, CedarPermit))
        self._forbids = tuple(s for s in statements if isinstance(s, CedarForbid))
        self._by_id = {s.policy_id: s for s in statements}
        self._groups = groups
        self._all_set = _only(trees)
        self._permit_set = _only({k: v for k, v in trees.items() if v.effect == "permit"})

    @property
    def source(self) -> str:
        return self._source

    @property
    def permits(self) -> tuple[CedarPermit, ...]:
        return self._permits

    @property
    def forbids(self) -> tuple[CedarForbid, ...]:
        return self._forbids

    @property
    def groups(self) -> frozenset[str]:
        return self._groups

    @property
    def idc_groups(self) -> Mapping[str, str]:
        return self._idc_groups

    @property
    def reads_principal_tags(self) -> bool:
        return self._reads_tags

    def decide(self, request: CedarRequest) -> CedarOutcome:
        """The satisfied permits and forbids, usually in one evaluation of the whole set.

        Cedar allows when a permit and no forbid is satisfied, and names the permits; it denies naming the
        satisfied forbids. Only when a forbid is satisfied are the permits evaluated on their own, so that
        ``explain`` can tell which auto-approvals it blocked. A forbid that cannot be evaluated counts as
        satisfied (fail closed); a permit that cannot be evaluated does not. Both are reported in ``errors``.
        The request is built here, and the policies were validated at load: no schema check per request.
        """
        if not self._by_id:
            return CedarOutcome()
        found, query = entities(request)
        errors: list[str] = []
        satisfied = self._run(self._all_set, query, found, errors)
        forbid_ids = {i for i in satisfied if isinstance(self._by_id[i], CedarForbid)}
        permit_ids = satisfied - forbid_ids
        if forbid_ids and self._permits:
            permit_ids = self._run(self._permit_set, query, found, [])
        permits = tuple(p for p in self._permits if p.policy_id in permit_ids)
        forbids = tuple(f for f in self._forbids if f.policy_id in forbid_ids)
        return CedarOutcome(permits, forbids, tuple(errors))

    def _run(self, policies: cedarpy.PolicySet, query: dict[str, Any], entities: list[dict[str, Any]],
             errors: list[str]) -> set[str]:
        """Ids of the statements Cedar found satisfied, plus the forbids it could not evaluate."""
        result = cedarpy.is_authorized(query, policies, entities)
        if result.decision is cedarpy.Decision.NoDecision:
            raise RuntimeError(f"Cedar could not evaluate the request: {'; '.join(result.diagnostics.errors)}")
        ids = {i for i in result.diagnostics.reasons if i in self._by_id}
        for error in result.diagnostics.errors:
            failed = _EVAL_ERROR.search(error)
            statement = self._by_id.get(failed.group(1)) if failed else None
            if statement is None:
                errors.append(f"Cedar: {error}")
                continue
            effect = "forbid" if isinstance(statement, CedarForbid) else "permit"
            errors.append(f"Cedar {effect} '{statement.name}' ({statement.origin}) could not be evaluated: "
                          f"{error.split(': ', 1)[-1]}")
            if isinstance(statement, CedarForbid):
                ids.add(statement.policy_id)
        return ids


def compile_cedar(text: str, source: str) -> CedarPolicies:
    """Parse, validate against jitbot's schema and check a Cedar file; ``CedarError`` lists located errors."""
    src = _Source(text)
    statements = _statements(src.text)
    try:
        parsed = cedarpy.PolicySet.from_str(src.text)
    except ValueError:
        raise CedarError(_syntax_errors(src, source, statements)) from None
    tree = parsed.to_pst()
    schema = cedarpy.Schema.from_str(SCHEMA)
    errors = [f"{source}:{src.where(statements[int(k[6:])].start)}: templates (?principal, ?resource) are "
              "not supported; name the principal or resource" for k in tree.templates if k.startswith("policy")
              and int(k[6:]) < len(statements)]
    errors += _schema_errors(src, source, statements, schema)
    built: list[CedarPermit | CedarForbid] = []
    groups: set[str] = set()
    idc_groups: dict[str, str] = {}
    reads_tags = False
    names: dict[str, str] = {}
    for policy_id, template in sorted(tree.static_policies.items(), key=lambda kv: int(kv[0][6:])):
        index = int(policy_id[6:])
        where = f"{source}:{src.where(statements[index].start)}" if index < len(statements) else source
        problems = _entity_errors(where, template) + _annotation_errors(where, template.effect, template.annotations)
        for attr, why in untrusted_reads(template):
            at = src.where(_find(statements[index], [attr])) if index < len(statements) else "?"
            problems.append(f"{source}:{at}: {why}")
        reads = _unknown_attributes(template, known={})
        reads_tags = reads_tags or ("context", "iam") in reads
        for variable, attr in reads:
            if attr in KNOWN_ATTRIBUTES.get(variable, ()) or (variable == "principal" and attr in SELF_EDITED):
                continue  # offered; or a profile field, said above with the reason
            known = ", ".join(KNOWN_ATTRIBUTES.get(variable, ())) or "none (use hasTag/getTag for tags)"
            at = src.where(_find(statements[index], [attr])) if index < len(statements) else "?"
            problems.append(f"{source}:{at}: jitbot gives {variable} no attribute `{attr}` (it has: {known}), so "
                            "this statement could never use it")
        errors += problems
        for uid in pst.entity_uids(template):
            if uid.type.basename == "Group" and GROUP_ID.match(uid.id):
                groups.add(uid.id)
            elif uid.type.basename == "Group" and index < len(statements):
                idc_groups.setdefault(uid.id, f"{source}:{src.where(_find(statements[index], [uid.id]))}")
        if problems:
            continue
        line = where.rsplit(":", 2)[-2] if index < len(statements) else "?"
        try:
            statement = _policy(f"{source}:{line}", policy_id, template, f"{Path(source).name}:{line}")
        except ValidationError as err:
            errors += [f"{where}: {e['msg']}" for e in err.errors(include_url=False)]
            continue
        if statement.name in names:
            errors.append(f"{where}: @id '{statement.name}' is already used at {names[statement.name]}")
        names.setdefault(statement.name, where)
        built.append(statement)
    if errors:
        raise CedarError(errors)
    return CedarPolicies(source, built, tree.static_policies, frozenset(groups), idc_groups, reads_tags)


def load_cedar(path: Path, shown_as: str) -> CedarPolicies:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CedarError([f"{shown_as}: cannot read the Cedar file: {err.strerror or err}"]) from None
    except UnicodeDecodeError:
        raise CedarError([f"{shown_as}: the Cedar file is not UTF-8 text"]) from None
    return compile_cedar(text, shown_as)
