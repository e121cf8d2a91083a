from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "skilldacity.outbox"
    label = "outbox"
    verbose_name = "E-mail outbox"
