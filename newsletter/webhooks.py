"""Bounce and complaint reports from the e-mail provider, through django-anymail's tracking
webhooks: anymail checks the HTTP basic-auth secret (ANYMAIL["WEBHOOK_SECRET"]) and turns each
provider's payload into one normalised event; here a bounce or a spam complaint takes the address
off the list, so the next send skips it."""

from anymail.signals import EventType, tracking
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailjet import MailjetTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.dispatch import receiver
from django.http import Http404
from django.views.decorators.csrf import csrf_exempt

from . import services
from .models import Subscriber

# Providers whose webhooks anymail secures with the basic-auth secret alone (others need keys of
# their own, or fetch certificates at run time).
TRACKING_VIEWS = {
    "postmark": PostmarkTrackingWebhookView,
    "sendgrid": SendGridTrackingWebhookView,
    "brevo": BrevoTrackingWebhookView,
    "mailjet": MailjetTrackingWebhookView,
}

UNDELIVERABLE = {
    EventType.BOUNCED: Subscriber.Status.BOUNCED,
    EventType.COMPLAINED: Subscriber.Status.COMPLAINED,
}


@csrf_exempt  # a provider's server posts here; the basic-auth secret is the check
def tracking_webhook(request, esp):
    # Without a secret anymail would only warn and accept anyone's reports.
    view = TRACKING_VIEWS.get(esp)
    if view is None or not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        raise Http404
    return view.as_view()(request)


@receiver(tracking, dispatch_uid="newsletter-undeliverable")
def mark_undeliverable(sender, event, esp_name, **kwargs):
    status = UNDELIVERABLE.get(event.event_type)
    if status is None or not event.recipient:
        return
    reason = f"{esp_name} {event.event_type}: {event.reject_reason or ''} {event.description or ''}"
    services.subscriber_undeliverable(email=event.recipient, status=status, reason=reason.strip())
