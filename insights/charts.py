"""Small server-rendered SVG charts.

Why not a charting library: the site's Content-Security-Policy allows no inline scripts or styles,
and the Python SVG libraries (pygal) style through an embedded <style> element that CSP blocks.
These charts use SVG presentation attributes only, so they render under the strict policy, need no
JavaScript, and print. Every chart is shown beside a table of the same numbers for screen readers.
"""

from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import mark_safe

PALETTE = ["#0a4f9c", "#b3261e", "#1e7b34", "#8a4b00", "#5b2a86", "#00687a"]


@dataclass
class Series:
    name: str
    values: list
    colour: str = ""


@dataclass
class Chart:
    """Bars per label (grouped when there are several series)."""

    title: str
    labels: list
    series: list = field(default_factory=list)
    width: int = 640
    height: int = 240
    unit: str = ""

    # Plot margins inside the SVG: room for the value axis on the left, week labels below.
    LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 28

    @property
    def plot_width(self):
        return self.width - self.LEFT - self.RIGHT

    @property
    def plot_height(self):
        return self.height - self.TOP - self.BOTTOM

    def __post_init__(self):
        for index, series in enumerate(self.series):
            series.colour = series.colour or PALETTE[index % len(PALETTE)]

    @property
    def max_value(self):
        values = [value or 0 for series in self.series for value in series.values]
        return max(values, default=0) or 1

    def ticks(self, count=4):
        top = nice_ceiling(self.max_value)
        return [round(top * step / count, 2) for step in range(count + 1)]

    def bars(self):
        """Geometry for every bar: x, y, width, height, colour, label and value (for titles)."""
        left, top = self.LEFT, self.TOP
        plot_w, plot_h = self.plot_width, self.plot_height
        scale_top = nice_ceiling(self.max_value)
        groups = max(len(self.labels), 1)
        group_w = plot_w / groups
        bar_w = max(group_w * 0.8 / max(len(self.series), 1), 1)
        bars = []
        for group, label in enumerate(self.labels):
            for offset, series in enumerate(self.series):
                value = series.values[group] or 0
                height = plot_h * value / scale_top
                bars.append(
                    {
                        "x": round(left + group * group_w + group_w * 0.1 + offset * bar_w, 2),
                        "y": round(top + plot_h - height, 2),
                        "width": round(bar_w, 2),
                        "height": round(height, 2),
                        "colour": series.colour,
                        "label": label,
                        "series": series.name,
                        "value": value,
                    }
                )
        return bars

    def gridlines(self):
        top, plot_h = self.TOP, self.plot_height
        ticks = self.ticks()
        scale_top = ticks[-1] or 1
        return [
            {"y": round(top + plot_h - plot_h * tick / scale_top, 2), "value": _fmt(tick)}
            for tick in ticks
        ]

    def x_labels(self, max_labels=12):
        left, plot_w = self.LEFT, self.plot_width
        groups = max(len(self.labels), 1)
        every = max(1, -(-groups // max_labels))
        return [
            {"x": round(left + (index + 0.5) * plot_w / groups, 2), "text": str(label)}
            for index, label in enumerate(self.labels)
            if index % every == 0
        ]

    def rows(self):
        """The same numbers as the chart, for the accessible table and the CSV download."""
        return [
            [label, *[series.values[index] for series in self.series]]
            for index, label in enumerate(self.labels)
        ]

    # The bars and the table rows as markup, built here rather than in template loops: two years
    # of the daily outbox chart are 1,462 bars and 731 rows, which took a template over a second.
    # Each text is escaped once (not once per bar); the numbers need no escaping.

    def bars_html(self):
        labels = {label: escape(str(label)) for label in self.labels}
        names = {series.name: escape(str(series.name)) for series in self.series}
        return mark_safe(  # noqa: S308 - every text in it went through escape()
            "".join(
                f'<rect x="{b["x"]}" y="{b["y"]}" width="{b["width"]}" height="{b["height"]}" '
                f'fill="{escape(b["colour"])}"><title>{labels[b["label"]]} · '
                f"{names[b['series']]}: {_number(b['value'])}</title></rect>"
                for b in self.bars()
            )
        )

    def rows_html(self):
        return mark_safe(  # noqa: S308 - every text in it went through escape()
            "".join(
                f'<tr><th scope="row">{escape(str(row[0]))}</th>'
                + "".join(f"<td>{_number(cell)}</td>" for cell in row[1:])
                + "</tr>"
                for row in self.rows()
            )
        )

    @property
    def headers(self):
        return ["", *[series.name for series in self.series]]


def nice_ceiling(value):
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above value, so axis ticks read well."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _fmt(number):
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _number(value):
    return value if isinstance(value, int | float) else escape(str(value))
