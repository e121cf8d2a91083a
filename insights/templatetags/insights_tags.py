from django import template

register = template.Library()


@register.inclusion_tag("insights/_chart.html")
def chart(charts, key, query=""):
    """One chart with its table and CSV link: `{% chart charts "funnel" query %}`."""
    return {"chart": charts[key], "key": key, "query": query}


@register.filter
def duration(value):
    """A timedelta as "2 d 4 h" / "3 h 10 min" / "—"."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@register.filter
def duration_between(interval):
    """A median's interval (low, high) as "4 h 0 min to 5 h 0 min" / "under 1 min" / "—"."""
    if interval is None:
        return "—"
    low, high = interval
    if low is None:
        return f"under {duration(high)}"
    if high is None:
        return f"{duration(low)} or more"
    return f"{duration(low)} to {duration(high)}"
