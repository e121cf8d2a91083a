from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "newsletter"
    verbose_name = "Newsletter"

    def ready(self):
        from . import webhooks  # noqa: F401 - connects the bounce and complaint receiver
