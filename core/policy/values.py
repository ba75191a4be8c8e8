"""Strict checks of the AWS values of the policy file: IAM principal ARNs, SSM session documents and the
``[identity_center]`` values.

A value here ends up in an IAM policy jitbot writes (the documents a session may use) or names the principal
that receives grants and the role jitbot assumes, so "close enough" is not enough: no wildcard, a known
partition, a 12-digit account, the IAM resource type expected, names in AWS's own character sets. Each check
raises ``ValueError`` with a message that says what is wrong; pydantic puts the location in front of it
(``identities.U0ALICE01: …``, ``settings.session_documents[1]: …``).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from core.idc import idc_user_id

PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
WILDCARDS = "*?"
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")
#: IAM role and user names: 1 to 64 of ``A-Z a-z 0-9 + = , . @ _ -`` (ASCII only)
_IAM_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
#: an IAM path: ``/`` or ``/a/b/``, printable ASCII, at most 512 characters
_IAM_PATH = re.compile(r"/(?:[\x21-\x7e]+/)?")
#: SSM document names: 3 to 128 of ``A-Z a-z 0-9 _ - .``
_DOCUMENT_NAME = re.compile(r"[A-Za-z0-9_.-]{3,128}")


def _no_wildcards(value: str, what: str) -> None:
    found = sorted({c for c in value if c in WILDCARDS})
    if found:
        raise ValueError(f"'{value}' contains a wildcard ({' '.join(found)}): name exactly one {what}")


def _arn_parts(value: str, what: str) -> tuple[str, str, str, str, str]:
    """(partition, service, region, account, resource) of an ARN, or ``ValueError`` saying what is off."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"'{value}' is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE); "
                         f"give the {what}'s ARN")
    _, partition, service, region, account, resource = parts
    if partition not in PARTITIONS:
        raise ValueError(f"'{value}': '{partition}' is not an AWS partition ({', '.join(PARTITIONS)})")
    return partition, service, region, account, resource


def principal_arn(value: str, kinds: tuple[str, ...] = ("role", "user")) -> str:
    """An IAM role or user ARN, ``arn:aws:iam::123456789012:role/path/name``: ``kinds`` are the types allowed."""
    what = "IAM " + " or ".join(kinds)
    _no_wildcards(value, what)
    _, service, region, account, resource = _arn_parts(value, what)
    if service != "iam":
        raise ValueError(f"'{value}' is a '{service}' ARN, not an {what} ARN (arn:aws:iam::ACCOUNT:{kinds[0]}/NAME)")
    if region:
        raise ValueError(f"'{value}': IAM ARNs have no region (arn:aws:iam::ACCOUNT:…)")
    if not _ACCOUNT.fullmatch(account):
        raise ValueError(f"'{value}': '{account}' is not a 12-digit AWS account id")
    kind, slash, rest = resource.partition("/")
    if kind not in kinds or not slash:
        shapes = " or ".join(f"{k}/NAME" for k in kinds)
        raise ValueError(f"'{value}' is not an {what} ARN: its resource must be {shapes}")
    path, _, name = ("/" + rest).rpartition("/")
    path += "/"
    if not _IAM_PATH.fullmatch(path) or len(path) > 512:
        raise ValueError(f"'{value}': '{path}' is not an IAM path (/ or /segment/…/, printable ASCII)")
    if not _IAM_NAME.fullmatch(name):
        raise ValueError(f"'{value}': '{name}' is not an IAM {kind} name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)")
    return value


def role_arn(value: str) -> str:
    return principal_arn(value, ("role",))


def session_document(value: str) -> str:
    """An SSM document name (``SSM-SessionManagerRunShell``) or a document ARN
    (``arn:aws:ssm:REGION:ACCOUNT:document/NAME``; AWS's own documents have an empty account)."""
    _no_wildcards(value, "SSM document")
    if not value.startswith("arn:"):
        if not _DOCUMENT_NAME.fullmatch(value):
            raise ValueError(f"'{value}' is not an SSM document name (3 to 128 of A-Z a-z 0-9 _ - .) "
                             "nor a document ARN")
        return _known_aws_document(value)
    _, service, region, account, resource = _arn_parts(value, "SSM document")
    if service != "ssm" or not resource.startswith("document/"):
        raise ValueError(f"'{value}' is not an SSM document ARN (arn:aws:ssm:REGION:ACCOUNT:document/NAME)")
    if not _REGION.fullmatch(region):
        raise ValueError(f"'{value}': '{region}' is not an AWS region")
    if account and not _ACCOUNT.fullmatch(account):
        raise ValueError(f"'{value}': '{account}' is not a 12-digit AWS account id (or empty, for AWS's documents)")
    name = resource.removeprefix("document/")
    if not _DOCUMENT_NAME.fullmatch(name):
        raise ValueError(f"'{value}': '{name}' is not an SSM document name (3 to 128 of A-Z a-z 0-9 _ - .)")
    if not account:
        _known_aws_document(name)
    return value


#: the Session Manager documents AWS publishes (``AWS-…``); an account's own documents may be named anything else
AWS_SESSION_DOCUMENTS = ("AWS-StartPortForwardingSession", "AWS-StartPortForwardingSessionToRemoteHost",
                         "AWS-StartPortForwardingSessionToSocket", "AWS-StartSSHSession", "AWS-StartInteractiveCommand",
                         "AWS-StartNonInteractiveCommand", "AWS-PasswordReset")


def _known_aws_document(name: str) -> str:
    """A name in AWS's namespace (``AWS-…``) must be one of the session documents AWS publishes: a misspelt one would
    allow nothing, silently (IAM does not check that a resource exists)."""
    if name.startswith("AWS-") and name not in AWS_SESSION_DOCUMENTS:
        raise ValueError(f"'{name}' is not a Session Manager document AWS publishes (they are "
                         f"{', '.join(AWS_SESSION_DOCUMENTS)}); an account's own documents may not start with AWS-")
    return name


def identity(value: str) -> str:
    """An ``[identities]`` value: an IAM role or user ARN, or an IAM Identity Center user
    ``arn:aws:identitystore:::user/<UserId>`` (whose grants are permission sets: docs/iam/README.md)."""
    if value.startswith("arn:") and value.split(":")[2:3] == ["identitystore"]:
        if idc_user_id(value) is None:
            raise ValueError(f"'{value}' is not an Identity Center user (arn:aws:identitystore:::user/USER-ID, the "
                             "UserId the Identity Store shows, such as 9067a4c2-b0a1-70e5-1b9c-3f5e2d1c0a11)")
        return value
    return principal_arn(value)


#: an IAM Identity Center instance: ``ssoins-`` (or ``ins-``) and 16 of ``a-z A-Z 0-9 - .`` (AWS's API model)
_SSO_INSTANCE = re.compile(r"(sso)?ins-[a-zA-Z0-9.-]{16}")
#: an identity store id: ``d-`` and 10 lower-case hex digits, or a UUID (AWS's API model)
_IDENTITY_STORE = re.compile(r"d-[0-9a-f]{10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HOST = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")


def sso_instance_arn(value: str) -> str:
    """An IAM Identity Center instance ARN, ``arn:aws:sso:::instance/ssoins-0123456789abcdef``."""
    _no_wildcards(value, "IAM Identity Center instance")
    _, service, region, account, resource = _arn_parts(value, "IAM Identity Center instance")
    kind, _, name = resource.partition("/")
    if service != "sso" or region or account or kind != "instance":
        raise ValueError(f"'{value}' is not an IAM Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…; "
                         "the console shows it under Settings)")
    if not _SSO_INSTANCE.fullmatch(name):
        raise ValueError(f"'{value}': '{name}' is not an instance id (ssoins- and 16 characters)")
    return value


def identity_store_id(value: str) -> str:
    """An identity store id, ``d-0123456789`` (or the UUID form AWS also allows)."""
    if not _IDENTITY_STORE.fullmatch(value):
        raise ValueError(f"'{value}' is not an identity store id (d- and 10 lower-case hex digits, as the IAM "
                         "Identity Center console shows it under Settings)")
    return value


def aws_region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise ValueError(f"'{value}' is not an AWS region such as \"eu-west-1\"")
    return value


def portal_url(value: str) -> str:
    """The AWS access portal's address: ``https://`` and a host name, no credentials, query or fragment."""
    scheme, sep, rest = value.partition("://")
    host = rest.split("/", 1)[0]
    if scheme != "https" or not sep or not _HOST.fullmatch(host) or any(c in value for c in " \t\n?#@\"'<>"):
        raise ValueError(f"'{value}' is not an access portal URL such as \"https://d-0123456789.awsapps.com/start\"")
    return value.rstrip("/")


PrincipalArn = Annotated[str, AfterValidator(principal_arn)]
IdentityArn = Annotated[str, AfterValidator(identity)]
RoleArn = Annotated[str, AfterValidator(role_arn)]
SessionDocument = Annotated[str, AfterValidator(session_document)]
SsoInstanceArn = Annotated[str, AfterValidator(sso_instance_arn)]
IdentityStoreId = Annotated[str, AfterValidator(identity_store_id)]
AwsRegion = Annotated[str, AfterValidator(aws_region)]
PortalUrl = Annotated[str, AfterValidator(portal_url)]
