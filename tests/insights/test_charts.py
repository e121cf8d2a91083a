from insights.charts import Chart, Series, nice_ceiling


def test_nice_ceiling_rounds_up_to_readable_axis_tops():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 26, 99, 1001)] == [
        1,
        1,
        5,
        10,
        20,
        50,
        100,
        2000,
    ]


def test_bars_scale_to_the_axis_and_rows_repeat_the_numbers():
    chart = Chart(
        title="Leads per week",
        labels=["w1", "w2"],
        series=[Series("Callback", [10, 5]), Series("Quote", [0, 20])],
        width=248,
        height=138,
    )
    bars = chart.bars()
    assert len(bars) == 4
    tallest = max(bars, key=lambda bar: bar["height"])
    assert tallest["value"] == 20 and tallest["height"] == 100  # plot height is 138-10-28
    assert [bar["height"] for bar in bars if bar["value"] == 0] == [0]
    assert chart.rows() == [["w1", 10, 0], ["w2", 5, 20]]
    assert chart.headers == ["", "Callback", "Quote"]
