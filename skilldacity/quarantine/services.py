"""Keep, release and purge posts that a spam guess turned away.

A form's view asks `form.is_spam()`; a post that is (or that went over a rate limit) is thanked as
usual and kept here instead of being dropped: browsers' autofill fills hidden fields too, and a
real person must not vanish on a guess. Nothing here sends e-mail. Releasing a post runs the
form's normal submit path (registered per form with `register_releaser`) with the stored payload,
so it becomes an ordinary lead or subscription and gets its e-mails then, once.

A flood cannot fill the table: at most QUARANTINE_MAX_PER_IP posts are kept per IP address (and
one shared bucket for posts without one) within QUARANTINE_IP_WINDOW_MINUTES; the rest are dropped
as before. Concurrent posts from one address may overshoot that by the number of web workers.
Rows older than QUARANTINE_RETENTION_DAYS are purged daily (`quarantine_purge`).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from skilldacity.spam import STARTED_FIELD, without_spam_checks

from .models import QuarantinedPost

logger = logging.getLogger(__name__)

_releasers = {}


def register_releaser(form_name, release):
    """`release(post)` submits a stored post through the form's normal path and returns a short
    description of what it made; it raises ValidationError when the post no longer validates."""
    _releasers[form_name] = release


def max_per_ip():
    return int(settings.QUARANTINE_MAX_PER_IP)


def ip_window():
    return timedelta(minutes=float(settings.QUARANTINE_IP_WINDOW_MINUTES))


def retention_period():
    return timedelta(days=float(settings.QUARANTINE_RETENTION_DAYS))


def form_payload(form):
    """The posted values of the form's own fields (nothing else a bot may have added), without
    the signed render time, which means nothing once staff have looked at the post."""
    payload = {}
    for name in form.fields:
        if name == STARTED_FIELD:
            continue
        key = form.add_prefix(name)
        if hasattr(form.data, "getlist"):
            values = form.data.getlist(key)
        else:
            values = [form.data[key]] if key in form.data else []
        if values:
            payload[key] = [str(value) for value in values]
    return payload


def released_form(form_class, post, **kwargs):
    """`form_class` bound to the stored payload and validated, spam checks aside; raises
    ValidationError with the form's messages when the post no longer validates (a course
    withdrawn since, say)."""
    data = QueryDict(mutable=True)
    for key, values in post.payload.items():
        data.setlist(key, list(values))
    form = without_spam_checks(form_class)(data, **kwargs)
    if not form.is_valid():
        raise ValidationError([message for errors in form.errors.values() for message in errors])
    return form


def quarantine_post(*, form_name, reason, payload, ip, attribution, now=None):
    """Keep a post judged spam. Returns the row, or None when its IP has used up its share."""
    now = now or timezone.now()
    limit = max_per_ip()
    recent = QuarantinedPost.objects.filter(ip=ip, created_at__gte=now - ip_window())
    # Counting at most `limit` rows keeps the check cheap however hard the flood.
    if recent[:limit].count() >= limit:
        logger.info("Quarantine full for ip=%s: dropping a %s post (%s)", ip, form_name, reason)
        return None
    return QuarantinedPost.objects.create(
        form=form_name[:30],
        reason=reason[:20],
        payload=payload,
        attribution=attribution or {},
        ip=ip,
        created_at=now,
    )


def quarantine_release(*, post_id, staff_user):
    """Submit a kept post as if it had passed the spam checks. Returns the post.

    Releasing twice (a double click, two staff at once) submits once: the row is locked and the
    second call finds it released.
    """
    with transaction.atomic():
        post = QuarantinedPost.objects.select_for_update().get(pk=post_id)
        if post.released_at is not None:
            return post
        release = _releasers.get(post.form)
        if release is None:
            raise ValidationError(f"Posts from the {post.form!r} form cannot be released.")
        post.release_result = str(release(post))[:200]
        post.released_at = timezone.now()
        post.released_by = staff_user
        post.save(update_fields=["release_result", "released_at", "released_by"])
    return post


def quarantine_purge(*, now=None):
    """Delete kept posts older than QUARANTINE_RETENTION_DAYS. Returns how many."""
    cutoff = (now or timezone.now()) - retention_period()
    deleted, _ = QuarantinedPost.objects.filter(created_at__lt=cutoff).delete()
    return deleted
