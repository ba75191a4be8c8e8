"""The policy file: schema, loading with located errors, and the pure decision function."""

from core.policy.evaluate import Requester, Verdict, evaluate
from core.policy.file import PolicyFile
from core.policy.loader import PolicyError, load_policies, parse_policies
from core.policy.schema import (
    AutoApprovalPolicy,
    DenyPolicy,
    Level,
    ManualApprovalPolicy,
    PolicySettings,
    Targets,
)

__all__ = [
    "AutoApprovalPolicy",
    "DenyPolicy",
    "Level",
    "ManualApprovalPolicy",
    "PolicyError",
    "PolicyFile",
    "PolicySettings",
    "Requester",
    "Targets",
    "Verdict",
    "evaluate",
    "load_policies",
    "parse_policies",
]
