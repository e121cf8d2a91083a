from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "newsletter"
    verbose_name = "Newsletter"

    def ready(self):
        from . import (
            quarantine,
            webhooks,  # noqa: F401 - connects the bounce and complaint receiver
        )

        quarantine.register()
