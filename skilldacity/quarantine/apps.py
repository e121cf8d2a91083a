from django.apps import AppConfig


class QuarantineConfig(AppConfig):
    name = "skilldacity.quarantine"
    label = "quarantine"
    verbose_name = "Spam quarantine"
