from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "SkillPoints referrals"

    def ready(self):
        from . import receivers  # noqa: F401 - connects the person_known receiver
        from .services import rewards  # noqa: F401 - forgets cached rewards when they change
