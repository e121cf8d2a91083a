"""KnownEmail no longer copies the address of every lead (rules.SOURCES_WITH_OWN_RECORD): the
lead row itself answers "known before", and the copy outlived the lead's anonymisation when its
retention ended or its sender asked to be erased. The copies made so far go too: a live lead still
answers for its address, an anonymised one was meant to be forgotten."""

from django.db import migrations


def forget_lead_addresses(apps, schema_editor):
    apps.get_model("referrals", "KnownEmail").objects.filter(first_source="lead").delete()


class Migration(migrations.Migration):
    dependencies = [("referrals", "0005_lean_indexes")]

    operations = [
        migrations.RunPython(forget_lead_addresses, migrations.RunPython.noop, elidable=True),
    ]
