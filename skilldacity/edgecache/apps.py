from django.apps import AppConfig


class EdgeCacheConfig(AppConfig):
    name = "skilldacity.edgecache"
    label = "edgecache"
    verbose_name = "Edge cache purges"
