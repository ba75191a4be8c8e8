"""Sorting AWS failures into "retry later" and "will not work", once botocore's own retries are spent."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from core.errors import GrantRefused, JitError, TransientAwsError

#: codes that a later attempt may get past (botocore retries most of them itself first)
TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "RequestThrottled", "SlowDown",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "BandwidthLimitExceeded",
    "EC2ThrottledException", "PriorRequestNotComplete", "RequestTimeout", "RequestTimeoutException",
    "ServiceUnavailable", "ServiceUnavailableException", "ServiceFailure", "InternalFailure", "InternalError",
    "InternalServerError", "ConcurrentModification", "EntityTemporarilyUnmodifiable", "IDPCommunicationError",
    "ExpiredToken", "ExpiredTokenException", "RequestExpired",
})
NOT_FOUND_CODES = frozenset({"NoSuchEntity"})


class NodeLookupError(JitError):
    """jitbot could not look in an account or region (not configured, or AWS refused); shown as it is."""


def error_code(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", "Unknown"))
    return type(err).__name__


def error_status(err: BaseException) -> int:
    if isinstance(err, ClientError):
        return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def describe(err: BaseException) -> str:
    if isinstance(err, ClientError):
        message = err.response.get("Error", {}).get("Message", "")
        return f"{error_code(err)}: {message}" if message else error_code(err)
    return f"{type(err).__name__}: {err}"


def is_transient(err: BaseException) -> bool:
    """Throttling, 5xx, expired tokens, timeouts and connection failures; any other answer from AWS stands
    (AccessDenied, NoSuchEntity, LimitExceeded, MalformedPolicyDocument, …)."""
    if isinstance(err, ClientError):
        return error_code(err) in TRANSIENT_CODES or error_status(err) >= 500
    return isinstance(err, BotoCoreError) and not isinstance(err, ParamValidationError)


def for_grant(err: Exception, what: str) -> Exception:
    """``GrantRefused`` for a standing refusal, ``TransientAwsError`` for anything worth another try."""
    if isinstance(err, GrantRefused | TransientAwsError):
        return err
    if is_transient(err):
        return TransientAwsError(f"{what}: {describe(err)}")
    return GrantRefused(f"{what}: {describe(err)}")


def transient(err: Exception, what: str) -> TransientAwsError:
    """Revocation never gives up: every failure is reported as something to retry."""
    if isinstance(err, TransientAwsError):
        return err
    return TransientAwsError(f"{what}: {describe(err)}")
