from django import template

from referrals.services.rules import points_per_referral

register = template.Library()


@register.inclusion_tag("referrals/_blurb.html")
def referral_blurb():
    """The SkillPoints call to action on article pages. Same for every visitor (page cache)."""
    return {"points_per_referral": points_per_referral()}
