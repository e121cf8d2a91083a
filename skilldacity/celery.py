"""The Celery app. Settings live in Django settings under the CELERY_ namespace."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "skilldacity.settings")

app = Celery("skilldacity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
