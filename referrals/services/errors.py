"""SkillPoints operations that cannot happen; the message is fit to show the referrer."""


class PointsError(Exception):
    """A points operation that cannot happen; the message is fit to show the referrer."""


class InsufficientPoints(PointsError):
    def __init__(self, message, *, balance=None):
        super().__init__(message)
        self.balance = balance


class RewardUnavailable(PointsError):
    pass


class InvalidTransition(PointsError):
    pass
