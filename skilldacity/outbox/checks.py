from django.conf import settings
from django.core.checks import Warning, register


@register()
def backoff_within_visibility_timeout(app_configs, **kwargs):
    """Redis redelivers a task not acknowledged within visibility_timeout; a retry countdown
    longer than that would be delivered twice (harmless thanks to the row lock, but wasteful)."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    backoff_max = float(settings.OUTBOX_BACKOFF_MAX_SECONDS)
    if backoff_max >= visibility:
        return [
            Warning(
                f"OUTBOX_BACKOFF_MAX_SECONDS ({backoff_max:g}) is not below the broker's "
                f"visibility_timeout ({visibility}).",
                hint="Lower OUTBOX_BACKOFF_MAX_SECONDS or raise visibility_timeout.",
                id="outbox.W001",
            )
        ]
    return []
