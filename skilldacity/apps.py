from django.apps import AppConfig


class SkilldacityConfig(AppConfig):
    name = "skilldacity"
    verbose_name = "Skilldacity"
