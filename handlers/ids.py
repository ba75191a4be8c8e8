"""Action, callback and block ids: the contract between the messages we send and the listeners.

Every id a message, a modal or a listener names is defined here, and only here (``tests/handlers/test_shape.py``).
"""

# -- buttons (action ids; the request id travels in the button's value) -------------------------------------
APPROVE = "jit_approve"
REJECT = "jit_reject"
CANCEL = "jit_cancel"
RELEASE = "jit_release"
EXTEND = "jit_extend"
OPEN_REQUEST = "jit_open_request"
REVIEW = "jit_breakglass_review"
#: "Approve for…": a static select beside Approve; each option's value is "<request id>:<seconds>"
APPROVE_FOR = "jit_approve_for"

# -- modals and the shortcut (callback ids) ---------------------------------------------------------------------
REJECT_VIEW = "jit_reject_view"
REQUEST_VIEW = "jit_request_view"
REVIEW_VIEW = "jit_breakglass_review_view"
SHORTCUT_REQUEST = "jit_request_shortcut"

# -- inputs of the modals (block id, then the action id of its element) ---------------------------------------
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"
NODE_BLOCK = "node"
NODE_INPUT = "node_input"
DURATION_BLOCK = "duration"
DURATION_INPUT = "duration_input"
TICKET_BLOCK = "ticket"
TICKET_INPUT = "ticket_input"
#: scheduled access: the start, shown when the policy sets max_start_ahead
START_BLOCK = "start"
START_INPUT = "start_input"
VERDICT_BLOCK = "verdict"
VERDICT_INPUT = "verdict_input"
NOTE_BLOCK = "note"
NOTE_INPUT = "note_input"
#: the request modal's line saying which policy decides
POLICY_BLOCK = "policy"

# -- blocks of messages and the App Home --------------------------------------------------------------------------
HOME_TOP_BLOCK = "home-top"
BREAKGLASS_REVIEW_BLOCK = "breakglass-review"


def decide_block(key: int | str) -> str:
    """The Approve/Reject buttons' block: per level in approval messages, per request in lists."""
    return f"decide-{key}"


def mine_block(request_id: str) -> str:
    """The requester's buttons under one of their requests in the App Home."""
    return f"mine-{request_id}"
