from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "SkillPoints referrals"

    def ready(self):
        from . import receivers  # noqa: F401 - connects the person_known receiver
