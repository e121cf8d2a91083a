from django.db import migrations


def fill(apps, schema_editor):
    from insights.rollups import rebuild

    rebuild(
        apps.get_model("leads", "Lead"),
        apps.get_model("insights", "LeadTally"),
        apps.get_model("insights", "StageTally"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_tallies"),
        ("leads", "0003_lead_quoted_at"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
