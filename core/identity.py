"""Which AWS principal a Slack user gets, and when Slack's word for their email is good enough for that.

``[identities]`` maps Slack user ids (the strongest key: Slack issues it, nobody edits it) or emails to IAM
principals. An email proves who someone is only when Slack confirmed that the person controls the address and
the person is a full member of the app's own workspace: a guest, a Slack Connect user from another
organisation, a stranger, a bot or a deactivated account may show any address, or one its own organisation
vouches for, not ours. Email-keyed identities are refused for them, saying why; id-keyed ones need none of this.

With ``[identity_center]``, someone without an ``[identities]`` entry is the IAM Identity Center user whose primary
email (or ``UserName``) is their trusted Slack email: exactly one such user, else refused, saying which email was
looked up and what an admin must do. Their principal is ``core.idc.idc_user_principal`` of that user.
"""

from __future__ import annotations

from core.errors import NotAllowed, Unavailable
from core.i18n import T, Text
from core.idc import idc_user_principal
from core.model import UserInfo
from core.policy.file import PolicyFile
from core.ports import IdentityStore

NO_IDENTITY = T("You have no AWS identity in jitbot's policy file ([identities]); ask an admin to map your Slack "
                "account to your IAM role or user.")


def email_doubt(user: UserInfo) -> Text | None:
    """Why this user's Slack email does not prove who they are, or None when it does."""
    if not user.email:
        return T("your Slack profile shows no email address")
    if user.deleted:
        return T("your Slack account is deactivated")
    if user.is_bot:
        return T("the account is a bot")
    if user.external:
        return T("your Slack account belongs to another organisation (Slack Connect or external), not this "
                 "workspace")
    if user.guest:
        return T("your Slack account is a guest account, not a full member of this workspace")
    if not user.email_confirmed:
        return T("Slack has not confirmed that you control {email}", email=user.email)
    return None


def trusted_email(user: UserInfo) -> str | None:
    """The user's email when it proves who they are (``email_doubt``), else None: what policies may see."""
    return user.email if email_doubt(user) is None else None


def principal_of(policies: PolicyFile, user: UserInfo, store: IdentityStore | None = None) -> str:
    """The principal receiving this user's grants: by Slack user id, else by a trusted email in ``[identities]``,
    else (with ``[identity_center]`` and a ``store``) the Identity Center user with that email.

    Raises ``NotAllowed`` saying why not: no entry at all, or an entry for an email Slack does not vouch for, or no
    (or more than one) Identity Center user with that email; ``Unavailable`` when Identity Center cannot be asked.
    """
    if user.id in policies.identities:
        return policies.identities[user.id]
    by_email = policies.principal_for(user.id, user.email)
    if by_email is None:
        if policies.identity_center is not None and store is not None:
            return idc_user_principal(idc_match(store, user))
        raise NotAllowed(NO_IDENTITY)
    doubt = email_doubt(user)
    if doubt is not None:
        raise NotAllowed(T("Your AWS identity in jitbot's policy file is keyed by your email, and jitbot accepts an "
                           "email as identity only from a confirmed full member of this workspace: {doubt}. Ask an "
                           "admin to map your Slack user id ({user}) in [identities] instead.", doubt=doubt,
                           user=user.id))
    return by_email


def idc_identity(store: IdentityStore, user: UserInfo) -> str | None:
    """The Identity Store user id of this Slack user (one match of their trusted email), or None when there is none
    (no trusted email, no match, several). ``Unavailable`` when Identity Center cannot be asked: authority then
    cannot be decided either way."""
    email = trusted_email(user)
    if email is None:
        return None
    found = store.users_by_email(email)
    return found[0] if len(found) == 1 else None


def idc_match(store: IdentityStore, user: UserInfo) -> str:
    """The Identity Store user id of this Slack user, or ``NotAllowed``/``Unavailable`` saying why not."""
    doubt = email_doubt(user)
    if doubt is not None:
        raise NotAllowed(T("jitbot finds your AWS identity in IAM Identity Center by your Slack email, and accepts "
                           "an email as identity only from a confirmed full member of this workspace: {doubt}. Ask an "
                           "admin to map your Slack user id ({user}) in [identities] instead.", doubt=doubt,
                           user=user.id))
    email = str(user.email)
    try:
        found = store.users_by_email(email)
    except Unavailable as err:
        raise Unavailable(T("jitbot could not ask IAM Identity Center who {email} is ({error}). Nothing was "
                            "recorded; try again in a minute.", email=email, error=err.message)) from None
    if not found:
        raise NotAllowed(T("No IAM Identity Center user has {email} (your Slack email) as primary email or user "
                           "name, so jitbot cannot tell which AWS identity is yours. Ask an admin to set it as your "
                           "Identity Center user's primary email, or to map your Slack user id ({user}) in "
                           "[identities].", email=email, user=user.id))
    if len(found) > 1:
        raise NotAllowed(T("{count} IAM Identity Center users have {email} (your Slack email) as primary email or "
                           "user name, and jitbot will not guess which one is you. Ask an admin to leave it to one "
                           "user, or to map your Slack user id ({user}) in [identities].", count=len(found),
                           email=email, user=user.id))
    return found[0]
