"""SkillPoints operations that cannot happen; the message is fit to show the referrer."""


class PointsError(Exception):
    """A points operation that cannot happen; the message is fit to show the referrer."""


class InsufficientPoints(PointsError):
    pass


class RewardUnavailable(PointsError):
    pass


class InvalidTransition(PointsError):
    pass
