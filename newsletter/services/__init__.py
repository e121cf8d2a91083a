"""The operations that change newsletter state, one module per concern. Each runs in one
transaction. Callers use `from newsletter import services` and the names below.

- `subscribers`: double opt-in sign-up, confirmation (which issues the code), unsubscribing, and
  addresses an e-mail provider reported as bounced or complained;
- `codes`: discount codes, their check and their one-time redemption;
- `apikeys`: keys for the checkout's code API;
- `sends`: campaigns, from fixing the recipients to the progress staff see;
- `links`: the signed links in e-mails.
"""

from .apikeys import apikey_authenticate, apikey_create
from .codes import (
    ALREADY_REDEEMED,
    CODE_PREFIX,
    EXPIRED,
    REDEEMED,
    UNKNOWN,
    VALID,
    CodeAnswer,
    code_check,
    code_issue,
    code_redeem,
    generate_code,
    normalize_code,
)
from .links import absolute_url, confirm_url, one_click_headers, unsubscribe_url
from .sends import (
    issue_claim,
    issue_email_context,
    issue_enqueue,
    issue_enqueue_batch,
    issue_progress,
    issue_send,
    issue_send_test,
    issue_start_send,
    issues_progress,
    publish_senders,
    stalled_sends,
    unsent_issues,
)
from .subscribers import (
    new_nonce,
    subscriber_confirm,
    subscriber_signup,
    subscriber_undeliverable,
    subscriber_unsubscribe,
)

__all__ = [
    "ALREADY_REDEEMED",
    "CODE_PREFIX",
    "EXPIRED",
    "REDEEMED",
    "UNKNOWN",
    "VALID",
    "CodeAnswer",
    "absolute_url",
    "apikey_authenticate",
    "apikey_create",
    "code_check",
    "code_issue",
    "code_redeem",
    "confirm_url",
    "generate_code",
    "issue_claim",
    "issue_email_context",
    "issue_enqueue",
    "issue_enqueue_batch",
    "issue_progress",
    "issue_send",
    "issue_send_test",
    "issue_start_send",
    "issues_progress",
    "new_nonce",
    "normalize_code",
    "one_click_headers",
    "publish_senders",
    "stalled_sends",
    "subscriber_confirm",
    "subscriber_signup",
    "subscriber_undeliverable",
    "subscriber_unsubscribe",
    "unsent_issues",
    "unsubscribe_url",
]
