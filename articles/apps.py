from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "articles"
    verbose_name = "News & Insights"

    def ready(self):
        from . import signals  # noqa: F401 - connects the receivers
