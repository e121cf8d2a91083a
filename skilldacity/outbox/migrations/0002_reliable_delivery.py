import django.utils.timezone
from django.db import migrations, models
from django.db.models import Q

import skilldacity.outbox.models


def release_claims_and_fill_message_ids(apps, schema_editor):
    """Claims are now row locks, not a status: a row left 'sending' by 0001's code goes back to
    pending, and every unsent row gets the stable Message-ID its attempts will share."""
    Email = apps.get_model("outbox", "Email")
    Email.objects.filter(status="sending").update(status="pending")
    for email in Email.objects.filter(message_id="").exclude(status="sent").only("pk").iterator():
        Email.objects.filter(pk=email.pk).update(
            message_id=skilldacity.outbox.models.new_message_id()
        )


class Migration(migrations.Migration):

    dependencies = [
        ("outbox", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="email", old_name="claimed_at", new_name="last_attempt_at"),
        migrations.AddField(
            model_name="email",
            name="queued_at",
            field=models.DateTimeField(
                blank=True,
                null=True,
                help_text="When a send task was last handed to the broker. Empty: the sweep sends it as soon as it is due; otherwise the sweep waits a grace period for that task first.",
            ),
        ),
        migrations.AddField(
            model_name="email",
            name="provider_message_id",
            field=models.CharField(
                blank=True, help_text="The id an e-mail provider returned, if any.", max_length=255
            ),
        ),
        migrations.AlterField(
            model_name="email",
            name="message_id",
            field=models.CharField(
                default=skilldacity.outbox.models.new_message_id,
                help_text="The Message-ID header, the same on every attempt, so that a receiving server can recognise a message it already has.",
                max_length=255,
            ),
        ),
        migrations.AlterField(
            model_name="email",
            name="send_after",
            field=models.DateTimeField(
                db_index=True,
                default=django.utils.timezone.now,
                help_text="Not sent before this time. Retries after a temporary failure move it on.",
            ),
        ),
        migrations.AlterField(
            model_name="email",
            name="key",
            field=models.CharField(
                help_text="Unique per e-mail, e.g. lead-ack:42. Asking again with the same key is a no-op.",
                max_length=200,
                unique=True,
            ),
        ),
        migrations.RunPython(release_claims_and_fill_message_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="email",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                db_index=True,
                default="pending",
                max_length=10,
            ),
        ),
        migrations.AddConstraint(
            model_name="email",
            constraint=models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="outbox_sent_has_sent_at",
            ),
        ),
    ]
