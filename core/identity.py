"""Which AWS principal a Slack user gets, and when Slack's word for their email is good enough for that.

``[identities]`` maps Slack user ids (the strongest key: Slack issues it, nobody edits it) or emails to IAM
principals. An email proves who someone is only when Slack confirmed that the person controls the address and
the person is a full member of the app's own workspace: a guest, a Slack Connect user from another
organisation, a stranger, a bot or a deactivated account may show any address, or one its own organisation
vouches for, not ours. Email-keyed identities are refused for them, saying why; id-keyed ones need none of this.
"""

from __future__ import annotations

from core.errors import NotAllowed
from core.model import UserInfo
from core.policy.schema import PolicyFile

NO_IDENTITY = ("You have no AWS identity in jitbot's policy file ([identities]); ask an admin to map your Slack "
               "account to your IAM role or user.")


def email_doubt(user: UserInfo) -> str | None:
    """Why this user's Slack email does not prove who they are, or None when it does."""
    if not user.email:
        return "your Slack profile shows no email address"
    if user.deleted:
        return "your Slack account is deactivated"
    if user.is_bot:
        return "the account is a bot"
    if user.external:
        return "your Slack account belongs to another organisation (Slack Connect or external), not this workspace"
    if user.guest:
        return "your Slack account is a guest account, not a full member of this workspace"
    if not user.email_confirmed:
        return f"Slack has not confirmed that you control {user.email}"
    return None


def trusted_email(user: UserInfo) -> str | None:
    """The user's email when it proves who they are (``email_doubt``), else None: what policies may see."""
    return user.email if email_doubt(user) is None else None


def principal_of(policies: PolicyFile, user: UserInfo) -> str:
    """The IAM principal receiving this user's grants: by Slack user id, else by a trusted email.

    Raises ``NotAllowed`` saying why not: no entry at all, or an entry for an email Slack does not vouch for.
    """
    if user.id in policies.identities:
        return policies.identities[user.id]
    by_email = policies.principal_for(user.id, user.email)
    if by_email is None:
        raise NotAllowed(NO_IDENTITY)
    doubt = email_doubt(user)
    if doubt is not None:
        raise NotAllowed(f"Your AWS identity in jitbot's policy file is keyed by your email, and jitbot accepts an "
                         f"email as identity only from a confirmed full member of this workspace: {doubt}. Ask an "
                         f"admin to map your Slack user id ({user.id}) in [identities] instead.")
    return by_email
