"""Which SSM session documents a grant allows: its policy's ``session_documents``, else ``[settings]``'s, and with
``remote_desktop`` Fleet Manager Remote Desktop (port forwarding and the ``ssm-guiconnect`` actions).

The list goes to the AWS backend as it is (``AccessBackend.grant``), ``REMOTE_DESKTOP`` included: it is not an SSM
document name (a colon is allowed only in an ARN), so ``aws/policy.py`` turns it into its statements.
"""

from __future__ import annotations

from core.policy.file import PolicyFile

#: Fleet Manager Remote Desktop, in a grant's list of documents (never a document name)
REMOTE_DESKTOP = "fleet-manager:remote-desktop"
#: the document Fleet Manager Remote Desktop starts its sessions with
REMOTE_DESKTOP_DOCUMENT = "AWS-StartPortForwardingSession"


def documents_for(policies: PolicyFile, policy_name: str) -> tuple[str, ...]:
    """The documents a grant under ``policy_name`` allows (a Cedar permit, or a policy no longer in the file: the
    global ``session_documents``)."""
    for policy in (*policies.auto_approval, *policies.manual_approval):
        if policy.name == policy_name:
            documents = policy.session_documents or policies.settings.session_documents
            return (*documents, REMOTE_DESKTOP) if policy.remote_desktop else tuple(documents)
    return tuple(policies.settings.session_documents)
