"""Subscribers: double opt-in sign-up, confirmation, unsubscribing.

Sign-up is double opt-in: a subscriber stays pending until they POST the confirmation page reached
from a signed link. Confirmation issues their discount code and sends `person_known`.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from skilldacity.addresses import normalise_email
from skilldacity.outbox.services import email_cancel, email_enqueue
from skilldacity.signals import person_known

from .. import tokens
from ..models import DiscountCode, Issue, Subscriber
from .codes import code_issue
from .links import confirm_url, one_click_headers, unsubscribe_url

ON_THE_LIST = (Subscriber.Status.PENDING, Subscriber.Status.CONFIRMED)
# Signing up again starts these over as pending: a new confirmation proves the address works.
OFF_THE_LIST = (
    Subscriber.Status.UNSUBSCRIBED,
    Subscriber.Status.BOUNCED,
    Subscriber.Status.COMPLAINED,
)


def new_nonce():
    return secrets.token_hex(8)


def _queue_confirmation(subscriber, now):
    """Queue the confirmation link, or a reminder with the code for someone already confirmed."""
    subscriber.confirmation_sends += 1
    subscriber.last_confirmation_sent_at = now
    number = subscriber.confirmation_sends
    if subscriber.status == Subscriber.Status.CONFIRMED:
        code = DiscountCode.objects.filter(subscriber=subscriber).first()
        email_enqueue(
            key=f"newsletter-reminder:{subscriber.pk}:{number}",
            to=subscriber.email,
            template="newsletter_welcome",
            context=_welcome_context(subscriber, code, already_subscribed=True),
            headers=_welcome_headers(subscriber),
        )
        return
    email_enqueue(
        key=f"newsletter-confirm:{subscriber.pk}:{number}",
        to=subscriber.email,
        template="newsletter_confirm",
        context={
            "first_name": subscriber.first_name,
            "confirm_url": confirm_url(subscriber),
            "valid_days": tokens.confirm_max_age().days,
        },
    )


def _existing_article_id(article_id):
    """The article a sign-up came from, if it still exists (the form's value is only a hint)."""
    if not article_id:
        return None
    # Through the foreign key: articles depends on newsletter (its sign-up form on article pages),
    # so newsletter does not import articles back.
    articles = Subscriber.article.field.related_model.objects
    return articles.filter(pk=article_id).values_list("pk", flat=True).first()


def subscriber_signup(
    *, email, first_name, source, consent_text, ip, attribution, article_id=None, now=None
):
    """Record a sign-up and queue the confirmation e-mail. Returns the Subscriber.

    Signing up again never makes a second subscriber: a pending one gets the link again, a
    confirmed one a reminder with their code, an unsubscribed one starts over as pending (old
    links void). Repeats within NEWSLETTER_RESEND_SECONDS send nothing, so nobody can use the form
    to flood someone else's inbox.
    """
    now = now or timezone.now()
    email = normalise_email(email)
    consent = {
        "source": source,
        "consent_text": consent_text,
        "consent_at": now,
        "consent_ip": ip or None,
    }
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().filter(email=email).first()
        if subscriber is None:
            try:
                with transaction.atomic():
                    subscriber = Subscriber.objects.create(
                        email=email,
                        first_name=first_name,
                        attribution=attribution or {},
                        article_id=_existing_article_id(article_id),
                        token_nonce=new_nonce(),
                        created_at=now,
                        **consent,
                    )
            except IntegrityError:
                # A simultaneous sign-up with the same address won; carry on as a repeat.
                subscriber = Subscriber.objects.select_for_update().get(email=email)
            else:
                _queue_confirmation(subscriber, now)
                subscriber.save(update_fields=["confirmation_sends", "last_confirmation_sent_at"])
                return subscriber

        resend_after = timedelta(seconds=settings.NEWSLETTER_RESEND_SECONDS)
        recently_sent = (
            subscriber.last_confirmation_sent_at
            and now - subscriber.last_confirmation_sent_at < resend_after
        )
        if subscriber.status in OFF_THE_LIST:
            subscriber.status = Subscriber.Status.PENDING
            subscriber.undeliverable_reason = ""
            subscriber.token_nonce = new_nonce()
            subscriber.unsubscribed_at = None
            subscriber.confirmed_at = None
            recently_sent = False
        if subscriber.status == Subscriber.Status.PENDING:
            for field, value in consent.items():
                setattr(subscriber, field, value)
            subscriber.first_name = first_name or subscriber.first_name
            if not subscriber.attribution and attribution:
                subscriber.attribution = attribution
        if not recently_sent:
            _queue_confirmation(subscriber, now)
        subscriber.save()
    return subscriber


def subscriber_confirm(*, subscriber_id, now=None):
    """Confirm a pending subscription: issue the code, e-mail it, tell the referrals app.

    Idempotent: confirming again changes nothing and returns the subscriber as it is. An
    unsubscribed subscriber is not re-subscribed by an old link. Returns the Subscriber.
    """
    now = now or timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        if subscriber.status != Subscriber.Status.PENDING:
            return subscriber
        subscriber.status = Subscriber.Status.CONFIRMED
        subscriber.confirmed_at = now
        subscriber.save(update_fields=["status", "confirmed_at"])
        code = code_issue(subscriber=subscriber, now=now)
        email_enqueue(
            key=f"newsletter-welcome:{subscriber.pk}:{subscriber.token_nonce}",
            to=subscriber.email,
            template="newsletter_welcome",
            context=_welcome_context(subscriber, code, already_subscribed=False),
            headers=_welcome_headers(subscriber),
        )
        person_known.send(
            sender=Subscriber,
            email=subscriber.email,
            source="newsletter",
            email_confirmed=True,
            attribution=subscriber.attribution,
            ip=subscriber.consent_ip,
            user=None,
        )
    return subscriber


def subscriber_unsubscribe(*, subscriber_id, now=None):
    """Take someone off the list at once and cancel updates still queued for them.

    Returns True if this call unsubscribed them, False if they already were.
    """
    now = now or timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        if subscriber.status == Subscriber.Status.UNSUBSCRIBED:
            return False
        subscriber.status = Subscriber.Status.UNSUBSCRIBED
        subscriber.unsubscribed_at = now
        subscriber.save(update_fields=["status", "unsubscribed_at"])
        _cancel_queued_updates(subscriber, now)
    return True


def subscriber_undeliverable(*, email, status, reason="", now=None):
    """Take an address the e-mail provider reported as bounced or complained-about off the list,
    and cancel updates still queued for it. Returns True if a subscriber on the list was found.
    `status` is Subscriber.Status.BOUNCED or COMPLAINED."""
    now = now or timezone.now()
    with transaction.atomic():
        subscriber = (
            Subscriber.objects.select_for_update()
            .filter(email=normalise_email(email), status__in=ON_THE_LIST)
            .first()
        )
        if subscriber is None:
            return False
        subscriber.status = status
        subscriber.undeliverable_reason = reason[:255]
        subscriber.save(update_fields=["status", "undeliverable_reason"])
        _cancel_queued_updates(subscriber, now)
    return True


def _cancel_queued_updates(subscriber, now):
    # A big send stays in the outbox for a while after it is fully queued, so look back a week,
    # not only at issues still being queued.
    recent = Issue.objects.filter(send_started_at__gte=now - timedelta(days=7))
    keys = [issue.email_key(subscriber.pk) for issue in recent.only("pk")]
    if keys:
        email_cancel(keys=keys)


def _welcome_headers(subscriber):
    return one_click_headers(
        unsubscribe_url(subscriber_id=subscriber.pk, nonce=subscriber.token_nonce)
    )


def _welcome_context(subscriber, code, *, already_subscribed):
    return {
        "first_name": subscriber.first_name,
        "code": code.code if code else "",
        "percent_off": code.percent_off if code else 0,
        "expires_on": code.expires_at.date().isoformat() if code else "",
        "already_subscribed": already_subscribed,
        "unsubscribe_url": unsubscribe_url(
            subscriber_id=subscriber.pk, nonce=subscriber.token_nonce
        ),
    }
