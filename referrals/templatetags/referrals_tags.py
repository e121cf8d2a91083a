from django import template

register = template.Library()


@register.inclusion_tag("referrals/_blurb.html", takes_context=True)
def referral_blurb(context):
    """The SkillPoints referral call to action, on article pages and elsewhere."""
    return {"request": context.get("request")}
