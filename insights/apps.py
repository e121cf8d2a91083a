from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Staff insights"

    def ready(self):
        from articles.models import Article
        from leads.models import Lead

        from . import rollups

        pre_save.connect(rollups.lead_pre_save, sender=Lead, dispatch_uid="insights-lead-pre")
        post_save.connect(rollups.lead_post_save, sender=Lead, dispatch_uid="insights-lead-post")
        pre_delete.connect(rollups.lead_pre_delete, sender=Lead, dispatch_uid="insights-lead-del")
        post_delete.connect(
            rollups.lead_post_delete, sender=Lead, dispatch_uid="insights-lead-deleted"
        )
        pre_delete.connect(
            rollups.article_pre_delete, sender=Article, dispatch_uid="insights-article-del"
        )
        post_delete.connect(
            rollups.article_post_delete, sender=Article, dispatch_uid="insights-article-deleted"
        )
