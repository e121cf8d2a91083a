"""Operations that change leads. Each is one transaction; e-mail goes through the outbox.

Views, the admin and the Celery tasks call these; nothing else writes a Lead or its timeline.
"""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.signals import post_save, pre_save
from django.urls import reverse
from django.utils import timezone

from skilldacity.addresses import normalise_email
from skilldacity.outbox.models import Email
from skilldacity.outbox.services import email_cancel, email_enqueue, email_enqueue_many
from skilldacity.signals import person_known
from skilldacity.statements import insert_statement, run_together

from .models import Lead, LeadActivity
from .workdays import add_working_days

Status = Lead.Status

# The pipeline. Spam and lost can be undone (a mistake, a lead that comes back); won is final.
TRANSITIONS = {
    Status.NEW: (Status.CONTACTED, Status.SPAM),
    Status.CONTACTED: (Status.QUOTED, Status.WON, Status.LOST, Status.SPAM),
    Status.QUOTED: (Status.WON, Status.LOST),
    Status.LOST: (Status.CONTACTED,),
    Status.SPAM: (Status.NEW,),
    Status.WON: (),
}
CLOSED = {Status.WON, Status.LOST, Status.SPAM}
ERASED_NAME = "(erased)"
ERASED_ADDRESS = "erased@erased.invalid"
ATTRIBUTION_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


class TransitionNotAllowed(ValidationError):
    pass


def dedupe_window():
    return timedelta(minutes=settings.LEADS_DEDUPE_MINUTES)


def followup_delay():
    return timedelta(days=settings.LEADS_FOLLOWUP_DAYS)


def retention_period():
    return timedelta(days=settings.LEADS_RETENTION_DAYS)


def staff_inbox():
    return settings.STAFF_NOTIFICATION_EMAIL


def allowed_transitions(status):
    return TRANSITIONS.get(status, ())


def admin_path(lead_id):
    return reverse("admin:leads_lead_change", args=[lead_id])


def _dedupe_hash(*, kind, fields, course_ids):
    """Same person, same kind, same content: the same request, whatever the order of courses."""
    payload = {
        "kind": kind,
        "email": normalise_email(fields["email"]),
        "courses": sorted(course_ids),
        **{
            name: str(value).strip()
            for name, value in fields.items()
            if name != "email" and value not in (None, "")
        },
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# Hand-written, like the ledger's debit: it runs on every post, and building the ORM's query cost
# more CPU than the statement.
LATEST_DUPLICATE_SQL = (
    "SELECT id FROM leads_lead WHERE dedupe_hash = %s AND created_at >= %s"
    " ORDER BY created_at DESC LIMIT 1"
)


def _duplicate_or_new_id(dedupe_hash, since):
    """(id of the latest lead with this hash created since `since`, or None; an id reserved for
    a new lead, or None where the database gives it at the INSERT).

    Two identical concurrent posts must queue up, so that the second sees the first lead. On
    PostgreSQL a transaction-scoped advisory lock on the hash queues them; it goes in the same
    round trip as the lookup, which still sees the first lead, because under READ COMMITTED
    each statement takes its snapshot when it starts, after the lock is granted. The new lead's
    id comes from its sequence in that round trip too, so that the lead and every row naming it
    go together in the next one (a duplicate leaves a gap in the ids, as a rollback does). SQLite
    already serialises writers (transactions are IMMEDIATE in settings).
    """
    params = [dedupe_hash, connection.ops.adapt_datetimefield_value(since)]
    if connection.vendor != "postgresql":
        rows = run_together([(LATEST_DUPLICATE_SQL, params)])
        return (rows[0][0] if rows else None), None
    lock_id = int.from_bytes(bytes.fromhex(dedupe_hash[:16]), "big", signed=True)
    (duplicate_id, new_id), *_ = run_together(
        [
            ("SELECT pg_advisory_xact_lock(%s)", [lock_id]),
            (
                f"SELECT ({LATEST_DUPLICATE_SQL}),"
                " nextval(pg_get_serial_sequence('leads_lead', 'id'))",
                params,
            ),
        ]
    )
    return duplicate_id, new_id


def _lead_email_context(lead, courses):
    return {
        "lead_id": lead.pk,
        "kind": lead.kind,
        "kind_label": lead.get_kind_display(),
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "organisation": lead.organisation,
        "learners": lead.learners,
        "courses": [course.title for course in courses],
        "platform": lead.platform.name if lead.platform else "",
        "call_time": lead.get_call_time_display() if lead.call_time else "",
        "call_timezone": lead.call_timezone,
        "delivery": lead.get_delivery_display() if lead.delivery else "",
        "timeframe": lead.get_timeframe_display() if lead.timeframe else "",
        "message": lead.message,
        "source_path": lead.source_path,
        "article_title": lead.article.title if lead.article else "",
        "admin_path": admin_path(lead.pk),
    }


@transaction.atomic
def lead_submit(
    *, kind, fields, courses, consent_text, attribution, source_path, article, ip, user=None
):
    """Record a lead from a valid, non-spam form post. Returns (lead, created).

    `fields` holds the lead's own columns (name, email, phone...), `courses` the chosen courses.
    The same request again within LEADS_DEDUPE_MINUTES returns the first lead and sends nothing.
    """
    now = timezone.now()
    courses = list(courses)
    dedupe_hash = _dedupe_hash(
        kind=kind, fields=fields, course_ids=[course.pk for course in courses]
    )
    duplicate_id, new_id = _duplicate_or_new_id(dedupe_hash, now - dedupe_window())
    if duplicate_id is not None:
        # Only the id on the way in: nearly every post is new, and a whole Lead is 30 columns.
        return Lead.objects.get(pk=duplicate_id), False

    lead = Lead(
        id=new_id,
        kind=kind,
        **fields,
        consent_text=consent_text,
        article=article,
        source_path=source_path[:500],
        landing_path=attribution.get("landing_path", "")[:500],
        referrer=attribution.get("referrer", "")[:500],
        referral_code=attribution.get("ref", "")[:32],
        **{key: attribution.get(key, "")[:200] for key in ATTRIBUTION_FIELDS},
        ip=ip,
        dedupe_hash=dedupe_hash,
        created_at=now,
        contact_due_at=add_working_days(now, 1),
        tallied=False,  # counted by the tally job, not in this transaction (insights.rollups)
    )
    # The lead, its courses and timeline, and its two e-mails: one round trip on PostgreSQL (the
    # id is reserved), not four (statements.py). Model.save()'s signals are sent here, as save()
    # would send them.
    database = Lead.objects.db
    pre_save.send(sender=Lead, instance=lead, raw=False, using=database, update_fields=None)
    if new_id is None:
        lead.pk = run_together([insert_statement(Lead, [lead], returning=("id",))])[0][0]
        lead_row = None
    else:
        lead_row = insert_statement(Lead, [lead], with_pk=True)
    lead._state.adding, lead._state.db = False, database
    ack_key, notify_key = f"lead-ack:{lead.pk}", f"lead-notify:{lead.pk}"
    activities = [
        LeadActivity(
            lead=lead, kind=LeadActivity.Kind.CREATED, to_status=Status.NEW, created_at=now
        ),
        LeadActivity(
            lead=lead,
            kind=LeadActivity.Kind.EMAIL,
            text="Acknowledgement to the visitor",
            email_key=ack_key,
            created_at=now,
        ),
        LeadActivity(
            lead=lead,
            kind=LeadActivity.Kind.EMAIL,
            text=f"New-lead notification to {staff_inbox()}",
            email_key=notify_key,
            created_at=now,
        ),
    ]
    LeadCourse = Lead.courses.through  # noqa: N806 - a model class
    course_rows = [LeadCourse(lead_id=lead.pk, course_id=course.pk) for course in courses]
    context = _lead_email_context(lead, courses)
    email_enqueue_many(
        [
            {"key": ack_key, "to": lead.email, "template": "lead_ack", "context": context},
            {
                "key": notify_key,
                "to": staff_inbox(),
                "template": "lead_staff_new",
                "context": context,
                "headers": {"Reply-To": lead.email},
            },
        ],
        together_with=[
            lead_row,
            course_rows and insert_statement(LeadCourse, course_rows),
            insert_statement(LeadActivity, activities),
        ],
    )
    post_save.send(
        sender=Lead,
        instance=lead,
        created=True,
        update_fields=None,
        raw=False,
        using=database,
    )
    person_known.send(
        sender=Lead,
        email=lead.email,
        source="lead",
        email_confirmed=False,
        attribution=attribution,
        ip=ip,
        user=user if user is not None and user.is_authenticated else None,
    )
    return lead, True


def _locked(lead_id):
    return Lead.objects.select_for_update().get(pk=lead_id)


def _followup_keys(lead):
    return list(
        lead.activities.filter(
            kind=LeadActivity.Kind.EMAIL, email_key__startswith="lead-followup:"
        ).values_list("email_key", flat=True)
    )


@transaction.atomic
def lead_transition(*, lead_id, to_status, actor, note=""):
    """Move a lead along the pipeline; only TRANSITIONS are allowed. Returns the lead.

    Quoting schedules a polite follow-up to the visitor LEADS_FOLLOWUP_DAYS later; moving on from
    quoted cancels it.
    """
    lead = _locked(lead_id)
    from_status = lead.status
    if to_status not in allowed_transitions(from_status):
        raise TransitionNotAllowed(
            f"A {Status(from_status).label.lower()} lead can't be marked "
            f"{Status(to_status).label.lower()}.",
            code="transition",
        )
    now = timezone.now()
    lead.status = to_status
    if from_status == Status.NEW and lead.contacted_at is None:
        lead.contacted_at = now
    if to_status == Status.QUOTED and lead.quoted_at is None:
        lead.quoted_at = now
    lead.closed_at = now if to_status in CLOSED else None
    lead.save(update_fields=["status", "contacted_at", "quoted_at", "closed_at"])
    activity = LeadActivity.objects.create(
        lead=lead,
        kind=LeadActivity.Kind.STATUS,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        text=note,
        created_at=now,
    )
    if from_status == Status.QUOTED:
        email_cancel(keys=_followup_keys(lead))
    if to_status == Status.QUOTED:
        key = f"lead-followup:{lead.pk}:{activity.pk}"
        email_enqueue(
            key=key,
            to=lead.email,
            template="lead_followup",
            context={"name": lead.name, "kind_label": lead.get_kind_display()},
            send_after=now + followup_delay(),
        )
        LeadActivity.objects.create(
            lead=lead,
            kind=LeadActivity.Kind.EMAIL,
            text=f"Follow-up to the visitor scheduled in {followup_delay().days} days",
            email_key=key,
            created_at=now,
        )
    return lead


@transaction.atomic
def lead_assign(*, lead_id, assignee, actor):
    """Give a lead to a staff member (or to nobody). Someone else's assignment e-mails them."""
    lead = _locked(lead_id)
    if lead.assigned_to_id == (assignee.pk if assignee else None):
        return lead
    lead.assigned_to = assignee
    lead.save(update_fields=["assigned_to"])
    activity = LeadActivity.objects.create(
        lead=lead,
        kind=LeadActivity.Kind.ASSIGNED,
        actor=actor,
        text=f"Assigned to {assignee.get_username()}" if assignee else "Unassigned",
    )
    if assignee and assignee != actor and assignee.email:
        key = f"lead-assigned:{lead.pk}:{activity.pk}"
        email_enqueue(
            key=key,
            to=assignee.email,
            template="lead_assigned",
            context={
                "lead_id": lead.pk,
                "name": lead.name,
                "kind_label": lead.get_kind_display(),
                "assigned_by": actor.get_username() if actor else "",
                "admin_path": admin_path(lead.pk),
            },
        )
        LeadActivity.objects.create(
            lead=lead,
            kind=LeadActivity.Kind.EMAIL,
            text=f"Assignment notice to {assignee.email}",
            email_key=key,
        )
    return lead


def lead_add_note(*, lead_id, actor, text):
    text = text.strip()
    if not text:
        raise ValidationError("A note can't be empty.", code="empty")
    return LeadActivity.objects.create(
        lead_id=lead_id, kind=LeadActivity.Kind.NOTE, actor=actor, text=text
    )


def leads_remind_overdue(*, now=None):
    """E-mail the assignee (or the staff inbox) about each overdue lead, at most once a day.

    Runs every 30 minutes from Celery beat. Returns how many reminders it queued.
    """
    now = now or timezone.now()
    today = timezone.localdate(now).isoformat()
    overdue = list(Lead.objects.overdue(now).select_related("assigned_to").order_by("pk"))
    keys = {lead.pk: f"lead-overdue:{lead.pk}:{today}" for lead in overdue}
    already = set(
        LeadActivity.objects.filter(email_key__in=keys.values()).values_list("email_key", flat=True)
    )
    queued = 0
    for lead in overdue:
        key = keys[lead.pk]
        if key in already:
            continue
        assignee = lead.assigned_to
        to = assignee.email if assignee and assignee.email else staff_inbox()
        with transaction.atomic():
            email_enqueue(
                key=key,
                to=to,
                template="lead_overdue",
                context={
                    "lead_id": lead.pk,
                    "name": lead.name,
                    "kind_label": lead.get_kind_display(),
                    "received": timezone.localtime(lead.created_at).strftime("%a %d %b %Y %H:%M"),
                    "admin_path": admin_path(lead.pk),
                },
            )
            LeadActivity.objects.create(
                lead=lead,
                kind=LeadActivity.Kind.EMAIL,
                text=f"Overdue reminder to {to}",
                email_key=key,
                created_at=now,
            )
        queued += 1
    return queued


def _anonymise(leads, *, actor, reason):
    """Erase personal data from these leads, keeping the rows (and so every count)."""
    lead_ids = [lead.pk for lead in leads]
    if not lead_ids:
        return 0
    now = timezone.now()
    keys = list(
        LeadActivity.objects.filter(lead_id__in=lead_ids)
        .exclude(email_key="")
        .values_list("email_key", flat=True)
    )
    email_cancel(keys=keys)
    # The outbox keeps copies of what the e-mails said; those go too.
    Email.objects.filter(key__in=keys).update(context={"erased": True})
    Email.objects.filter(key__in=keys).filter(key__regex=r"^lead-(ack|followup):").update(
        to=ERASED_ADDRESS
    )
    LeadActivity.objects.filter(lead_id__in=lead_ids, kind=LeadActivity.Kind.NOTE).update(
        text=ERASED_NAME
    )
    # An UPDATE sends no signals; erasing the referral code changes the lead's source. Imported
    # here: insights reads leads, so leads importing insights at load time would be a loop.
    from insights.rollups import leads_changing

    with leads_changing(lead_ids):
        updated = Lead.objects.filter(pk__in=lead_ids).update(
            name=ERASED_NAME,
            email="",
            phone="",
            organisation="",
            message="",
            landing_path="",
            referrer="",
            referral_code="",
            ip=None,
            dedupe_hash="",
            anonymised_at=now,
        )
    LeadActivity.objects.bulk_create(
        [
            LeadActivity(lead_id=lead_id, kind=LeadActivity.Kind.ERASED, actor=actor, text=reason)
            for lead_id in lead_ids
        ]
    )
    return updated


@transaction.atomic
def person_erase(*, email, actor):
    """Erase everything held about an e-mail address in the leads (the counts stay)."""
    leads = list(Lead.objects.for_email(email).select_for_update())
    return _anonymise(leads, actor=actor, reason="Erased on request")


def leads_anonymise_expired(*, now=None, batch_size=500, progress=None):
    """Anonymise leads older than LEADS_RETENTION_DAYS, in batches. Returns how many."""
    cutoff = (now or timezone.now()) - retention_period()
    expired = Lead.objects.filter(created_at__lt=cutoff, anonymised_at__isnull=True)
    total = expired.count()
    done = 0
    while True:
        with transaction.atomic():
            batch = list(expired.order_by("pk").select_for_update(skip_locked=True)[:batch_size])
            if not batch:
                break
            done += _anonymise(
                batch,
                actor=None,
                reason=f"Retention period of {retention_period().days} days ended",
            )
        if progress:
            progress(done, max(total, done))
    return done


def person_export(*, email):
    """Everything the leads app holds about an e-mail address, as JSON-able data."""
    leads = list(
        Lead.objects.for_email(email)
        .select_related("platform", "article", "assigned_to")
        .prefetch_related("courses", "activities__actor")
        .order_by("created_at")
    )
    keys = [
        activity.email_key
        for lead in leads
        for activity in lead.activities.all()
        if activity.email_key
    ]
    emails = Email.objects.filter(key__in=keys) | Email.objects.filter(to__iexact=email)
    return {
        "email": email,
        "exported_at": timezone.now().isoformat(),
        "leads": [_lead_export(lead) for lead in leads],
        "emails": [
            {
                "key": item.key,
                "to": item.to,
                "template": item.template,
                "status": item.status,
                "created_at": item.created_at.isoformat(),
                "sent_at": item.sent_at.isoformat() if item.sent_at else None,
            }
            for item in emails.distinct().order_by("created_at")
        ],
    }


def _lead_export(lead):
    simple = [
        "id", "kind", "status", "name", "email", "phone", "organisation", "learners",
        "call_time", "call_timezone", "delivery", "timeframe", "message", "consent_text",
        "source_path", "landing_path", "referrer", "referral_code", "ip",
        *ATTRIBUTION_FIELDS,
    ]  # fmt: skip
    data = {name: getattr(lead, name) for name in simple}
    data.update(
        created_at=lead.created_at.isoformat(),
        courses=[course.title for course in lead.courses.all()],
        platform=lead.platform.name if lead.platform else None,
        article=lead.article.title if lead.article else None,
        assigned_to=lead.assigned_to.get_username() if lead.assigned_to else None,
        timeline=[
            {
                "at": activity.created_at.isoformat(),
                "what": activity.get_kind_display(),
                "by": activity.actor.get_username() if activity.actor else None,
                "from_status": activity.from_status,
                "to_status": activity.to_status,
                "text": activity.text,
            }
            for activity in lead.activities.all()
        ],
    )
    return data
