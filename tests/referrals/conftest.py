import pytest

from .factories import AccountFactory, RewardFactory


@pytest.fixture
def referrer(db):
    return AccountFactory(user__email="ref@example.com")


@pytest.fixture
def reward(db):
    return RewardFactory(name="Tablet stylus", points_cost=100)
