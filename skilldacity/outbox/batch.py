"""Several e-mails of one transaction in one INSERT, for hot paths whose keys are new by design.

`services.email_enqueue` costs three round trips an e-mail (a savepoint around the INSERT, so that
asking twice for one key is a no-op). An operation that writes a fresh row and e-mails about it
(keys such as `redemption-staff:<new id>`) cannot repeat a key, so it needs neither the savepoint
nor one statement per e-mail.
"""

from django.db import transaction
from django.utils import timezone

from . import services
from .models import Email


def emails_enqueue_new(emails):
    """Record e-mails given as dicts of `email_enqueue` arguments (key, to, template, context),
    due now, in one INSERT; send them after the surrounding transaction commits. Returns the rows.

    A key that exists already raises IntegrityError (and the caller's transaction rolls back):
    for keys that may repeat use `services.email_enqueue`.
    """
    now = timezone.now()
    rows = Email.objects.bulk_create(
        [Email(**email, send_after=now, queued_at=now) for email in emails]
    )
    ids = [row.pk for row in rows]
    # Looked up at commit, not bound at import: tests and benches replace it in one place.
    transaction.on_commit(lambda: services.publish_sends(ids))
    return rows
