from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "articles"
    verbose_name = "News & Insights"

    def ready(self):
        from . import purges, signals  # noqa: F401 - connect the receivers
