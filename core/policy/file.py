"""The policy file as a whole: the tables of ``policies.toml`` (``core.policy.schema``) and, beside them, the
Cedar statements of ``cedar_policies`` (``core.policy.cedar_rules``), attached by the loader."""

from __future__ import annotations

from pydantic import Field, PrivateAttr, field_validator, model_validator

from core.durations import format_duration
from core.idc import is_idc_group
from core.policy.cedar_rules import CedarRules
from core.policy.events import Events
from core.policy.schema import (
    ACCOUNT_ID,
    EMAIL,
    GROUP_ID,
    USER_ID,
    Account,
    AutoApprovalPolicy,
    Breakglass,
    DenyPolicy,
    Frozen,
    IdentityCenter,
    ManualApprovalPolicy,
    PolicySettings,
)
from core.policy.values import IdentityArn


class PolicyFile(Frozen):
    settings: PolicySettings = PolicySettings()
    identity_center: IdentityCenter | None = None
    events: Events | None = None
    identities: dict[str, IdentityArn] = Field(default_factory=dict)
    accounts: dict[str, Account] = Field(default_factory=dict)
    deny: tuple[DenyPolicy, ...] = ()
    auto_approval: tuple[AutoApprovalPolicy, ...] = ()
    manual_approval: tuple[ManualApprovalPolicy, ...] = ()
    breakglass: Breakglass = Breakglass()
    _cedar: CedarRules | None = PrivateAttr(default=None)

    @property
    def cedar(self) -> CedarRules | None:
        """The compiled ``cedar_policies`` file, attached by the loader (None without one)."""
        return self._cedar

    def with_cedar(self, rules: CedarRules) -> PolicyFile:
        self._cedar = rules
        return self

    @field_validator("identities")
    @classmethod
    def _identities(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:  # the values are checked one by one (IdentityArn), located at their key
            if not (USER_ID.match(key) or EMAIL.match(key)):
                raise ValueError(f"key '{key}' is neither a Slack user id (U…/W…) nor an email address")
        return value

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: dict[str, Account]) -> dict[str, Account]:
        for key, account in value.items():
            if not ACCOUNT_ID.match(key):
                raise ValueError(f"key '{key}' is not a 12-digit AWS account id")
            owner = account.role_arn.split(":")[4]
            if owner != key:
                raise ValueError(f"{key}: role_arn '{account.role_arn}' is a role of account {owner}; jitbot assumes "
                                 f"it to act in {key}, so it must be a role of {key}")
        return value

    @model_validator(mode="after")
    def _escalations_can_happen(self) -> PolicyFile:
        """A level that escalates only after the request has timed out would never escalate: say so."""
        timeout = self.settings.approval_timeout
        for index, manual in enumerate(self.manual_approval):
            for number, level in enumerate(manual.levels):
                if level.escalate_after is not None and level.escalate_after >= timeout:
                    raise ValueError(
                        f"manual_approval[{index}] ('{manual.name}').levels[{number}].escalate_after "
                        f"({format_duration(level.escalate_after)}) is not shorter than settings.approval_timeout "
                        f"({format_duration(timeout)}): the request would time out before its fallback approvers "
                        "were asked")
        return self

    def policy_names(self) -> list[str]:
        names = [p.name for group in (self.deny, self.auto_approval, self.manual_approval) for p in group]
        if self._cedar is not None:
            names += [p.name for p in (*self._cedar.permits, *self._cedar.forbids)]
        return names

    def principal_for(self, user_id: str, email: str | None) -> str | None:
        """The AWS principal that receives this Slack user's grants, by user id then by email."""
        if user_id in self.identities:
            return self.identities[user_id]
        if email:
            lowered = {k.lower(): v for k, v in self.identities.items()}
            return lowered.get(email.lower())
        return None

    def referenced_groups(self) -> frozenset[str]:
        ids: set[str] = set(self.breakglass.requesters)
        for group in (self.deny, self.auto_approval, self.manual_approval):
            for policy in group:
                ids.update(policy.requesters or ())
        for manual in self.manual_approval:
            for level in manual.levels:
                ids.update(level.approvers + level.escalate_to)
        if self._cedar is not None:
            ids.update(self._cedar.groups)
        return frozenset(i for i in ids if GROUP_ID.match(i))

    def referenced_idc_groups(self) -> frozenset[str]:
        """The ``idc-group:`` entries of every requesters and approvers list (Cedar names groups by id instead:
        ``CedarRules.idc_groups``)."""
        return frozenset(entry for _, entries in self.principal_lists() for entry in entries if is_idc_group(entry))

    def principal_lists(self) -> list[tuple[str, tuple[str, ...]]]:
        """(location, entries) of every list naming people or groups, located as errors are (``deny[0].requesters``)."""
        out: list[tuple[str, tuple[str, ...]]] = []
        for kind in ("deny", "auto_approval", "manual_approval"):
            for index, policy in enumerate(getattr(self, kind)):
                if policy.requesters:
                    out.append((f"{kind}[{index}].requesters", policy.requesters))
        for index, manual in enumerate(self.manual_approval):
            for number, level in enumerate(manual.levels):
                out.append((f"manual_approval[{index}].levels[{number}].approvers", level.approvers))
                if level.escalate_to:
                    out.append((f"manual_approval[{index}].levels[{number}].escalate_to", level.escalate_to))
        if self.breakglass.requesters:
            out.append(("breakglass.requesters", self.breakglass.requesters))
        for name in ("revokers",):  # [settings] lists of people, where this version has them
            entries = getattr(self.settings, name, None)
            if entries:
                out.append((f"settings.{name}", tuple(entries)))
        return out
