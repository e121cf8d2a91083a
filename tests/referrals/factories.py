import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from referrals.models import ReferrerAccount, Reward


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    username = factory.LazyAttribute(lambda o: o.email)
    password = factory.django.Password("correct horse battery")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferrerAccount

    user = factory.SubFactory(UserFactory)
    code = factory.Sequence(lambda n: f"CODE{n:04d}")
    email_verified_at = factory.LazyFunction(timezone.now)


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward

    name = factory.Sequence(lambda n: f"Reward {n}")
    slug = factory.Sequence(lambda n: f"reward-{n}")
    kind = Reward.Kind.ACCESSORY
    points_cost = 100
    stock = None
