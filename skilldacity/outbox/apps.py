from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "skilldacity.outbox"
    label = "outbox"
    verbose_name = "E-mail outbox"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
