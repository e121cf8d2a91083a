"""Skilldacity settings: one module, configured from the environment.

With no environment at all it runs on embedded defaults (SQLite, local-memory cache, Celery tasks
inline, e-mail to the console) so that `make run` works on a fresh machine. Production mode
(DJANGO_DEBUG=0) refuses to start without a real SECRET_KEY and ALLOWED_HOSTS.
"""

import json
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from xstatic.pkg import bootstrap as xstatic_bootstrap

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-dev-only-skilldacity-key-never-use-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if DEBUG:
    SECRET_KEY = SECRET_KEY or _DEV_SECRET_KEY
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["localhost", "127.0.0.1", "[::1]", "testserver"]
else:
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure") or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "DJANGO_DEBUG is off: set SECRET_KEY to a random string of at least 50 characters."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_DEBUG is off: set ALLOWED_HOSTS (comma-separated).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Absolute links in e-mails, feeds and share buttons are built from this, not from the request,
# because e-mails are rendered by Celery workers that have no request.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = "Skilldacity"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "csp",
    "anymail",
    "skilldacity",
    "skilldacity.outbox",
    "skilldacity.quarantine",
    "skilldacity.edgecache",
    "articles",
    "leads",
    "newsletter",
    "referrals",
    "insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Decides, seeing every cookie the others set, what a shared cache may keep (httpcache.py).
    "skilldacity.httpcache.CacheHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "skilldacity.attribution.AttributionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "skilldacity.urls"
WSGI_APPLICATION = "skilldacity.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "skilldacity.context_processors.site",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that stops answering must fail requests (and /healthz) fast, not hang them.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 3
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers on the embedded default wait instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ---------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "skilldacity.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "skd"),
            "TIMEOUT": 300,
            # A Redis outage must degrade to slower pages, never hang a request.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth ----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- I18N ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

# --- Static and media ----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Bootstrap comes from the XStatic-Bootstrap package: no committed copy, no CDN.
    ("vendor/bootstrap", xstatic_bootstrap.BASE_DIR),
]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Forms ---------------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
# Minimum seconds between rendering a public form and posting it; faster is a bot.
FORM_MIN_FILL_SECONDS = float(os.environ.get("FORM_MIN_FILL_SECONDS", "2"))
FORM_MAX_AGE_SECONDS = 24 * 3600
# Public forms sit on cached pages: a post without a token gets the form back, ready to send.
CSRF_FAILURE_VIEW = "skilldacity.formtokens.csrf_failure"

# --- HTTP caching (skilldacity/httpcache.py) -----------------------------------------------
# s-maxage of public pages for the shared cache in front (purged on change); 0: nothing public.
PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", "600"))
PAGE_BROWSER_CACHE_SECONDS = int(os.environ.get("PAGE_BROWSER_CACHE_SECONDS", "0"))
PAGE_STALE_WHILE_REVALIDATE_SECONDS = int(
    os.environ.get("PAGE_STALE_WHILE_REVALIDATE_SECONDS", "30")
)
PAGE_STALE_IF_ERROR_SECONDS = int(os.environ.get("PAGE_STALE_IF_ERROR_SECONDS", "86400"))
SURROGATE_KEY_HEADER = os.environ.get("SURROGATE_KEY_HEADER", "Surrogate-Key")

# Posts judged spam are kept for staff to review and release (skilldacity/quarantine): at most
# this many per client IP within the window (a flood cannot fill the table), for this many days.
QUARANTINE_MAX_PER_IP = int(os.environ.get("QUARANTINE_MAX_PER_IP", "20"))
QUARANTINE_IP_WINDOW_MINUTES = float(os.environ.get("QUARANTINE_IP_WINDOW_MINUTES", "60"))
QUARANTINE_RETENTION_DAYS = float(os.environ.get("QUARANTINE_RETENTION_DAYS", "30"))

# --- App settings --------------------------------------------------------------------------
# Every setting the apps read, declared here with its default (README, "App settings"): the
# apps read settings.X, so a misspelt override fails loudly instead of silently using a default.
LEADS_RATE_LIMIT = "5/m"  # lead posts per IP
LEADS_DEDUPE_MINUTES = 10  # the same person's same request within this is one lead
LEADS_FOLLOWUP_DAYS = 3
LEADS_RETENTION_DAYS = 730  # then personal data is anonymised
NEWSLETTER_CONFIRM_MAX_AGE_DAYS = 7
NEWSLETTER_CODE_VALID_DAYS = 90
NEWSLETTER_DISCOUNT_PERCENT = 20
NEWSLETTER_RESEND_SECONDS = 60  # a new confirmation e-mail at most this often
NEWSLETTER_SIGNUP_RATE = "5/m"  # sign-ups per IP
NEWSLETTER_SEND_BATCH_SIZE = 1000  # recipients queued per INSERT
NEWSLETTER_SEND_CLAIM_SIZE = 100  # e-mails a sender claims and sends over one SMTP connection
NEWSLETTER_SEND_TASK_SECONDS = 20  # a sender task's time slice, then it hands over
NEWSLETTER_SENDERS = 4  # senders the periodic resume brings back to an issue
NEWSLETTER_ENQUEUE_TASK_SECONDS = 20  # one enqueue task's share of a send, then it hands over
SKILLPOINTS_PER_REFERRAL = 100
REFERRAL_ATTRIBUTION_DAYS = 30
# More referrals than this from one IP within the minutes are held for staff review.
REFERRAL_REVIEW_IP_LIMIT = 3
REFERRAL_REVIEW_IP_MINUTES = 60
ACCOUNT_VERIFY_DAYS = 3

# --- E-mail --------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Skilldacity <hello@skilldacity.example>")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
STAFF_NOTIFICATION_EMAIL = os.environ.get("STAFF_NOTIFICATION_EMAIL", "leads@skilldacity.example")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    # A send holds its outbox row lock for at most this long; keep it well under the task limits.
    EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))
else:
    EMAIL_BACKEND = os.environ.get(
        "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
    )

# The outbox (skilldacity/outbox): retries, sweep and broker-outage behaviour.
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "8"))
# Retry n waits between half and all of min(BASE * 2**(n-1), MAX) seconds.
OUTBOX_BACKOFF_BASE_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_BASE_SECONDS", "30"))
OUTBOX_BACKOFF_MAX_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_MAX_SECONDS", "1800"))
# How often beat runs the sweep, and how long the sweep leaves a row to the task already
# handed to the broker before it hands out another.
OUTBOX_SWEEP_INTERVAL_SECONDS = float(os.environ.get("OUTBOX_SWEEP_INTERVAL_SECONDS", "60"))
OUTBOX_SWEEP_GRACE_SECONDS = float(os.environ.get("OUTBOX_SWEEP_GRACE_SECONDS", "120"))
# After a failed publish, a process leaves new e-mails to the sweep for this long.
OUTBOX_PUBLISH_PAUSE_SECONDS = float(os.environ.get("OUTBOX_PUBLISH_PAUSE_SECONDS", "10"))
OUTBOX_SWEEP_BATCH = 500  # rows one sweep takes

# Newsletter sends: e-mails a minute across all workers when an issue sets no rate of its own
# (0: no limit). Staff set an issue's own rate in the admin.
NEWSLETTER_SEND_RATE_PER_MINUTE = int(os.environ.get("NEWSLETTER_SEND_RATE_PER_MINUTE", "0"))

# Bounce and complaint webhooks (newsletter/webhooks.py): anymail's HTTP basic-auth secret,
# "user:password", given to the e-mail provider inside the webhook URL. Unset: the webhooks answer
# 404 rather than accept unauthenticated reports.
ANYMAIL = {"WEBHOOK_SECRET": os.environ.get("ANYMAIL_WEBHOOK_SECRET", "")}

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
# Without a broker every task runs inline, after the commit that asked for it.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport, sharing one client per pool when publishing (skilldacity/broker.py).
    CELERY_BROKER_TRANSPORT = "skilldacity.broker:Transport"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "skilldacity")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any countdown we use (OUTBOX_BACKOFF_MAX_SECONDS), so a delayed task is not
    # redelivered early; the outbox row lock makes an early redelivery harmless anyway.
    "visibility_timeout": 3600,
    # A request that publishes a task gives up after about 2 s whether Redis refuses the
    # connection, drops the SYN (connect timeout) or accepts and never answers (read timeout);
    # the outbox sweep sends what could not be published. Measured in
    # tests/integration/test_outbox_redis_outage.py.
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# No publish retries on top of redis-py's own reconnect: each retry would add another socket
# timeout to the request, and a task that could not be published is not lost (the sweep has it).
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {
        "task": "skilldacity.outbox.tasks.sweep_outbox",
        "schedule": OUTBOX_SWEEP_INTERVAL_SECONDS,
        # Sweeps that piled up while the broker was down are dropped, not run back to back.
        "options": {"expires": OUTBOX_SWEEP_INTERVAL_SECONDS},
    },
    # The leads visitors posted, into the dashboard's tallies (which also does it when read).
    "insights-tally-new-leads": {
        "task": "insights.tasks.tally_new_leads",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "leads-overdue-reminders": {
        "task": "leads.tasks.remind_overdue_leads",
        "schedule": crontab(minute="*/30"),
    },
    "leads-retention": {
        "task": "leads.tasks.anonymise_expired_leads",
        "schedule": crontab(hour=3, minute=15),
    },
    "quarantine-purge": {
        "task": "skilldacity.quarantine.tasks.purge_quarantine",
        "schedule": crontab(hour=3, minute=45),
    },
    "referrals-audit": {
        "task": "referrals.tasks.audit_skillpoints",
        "schedule": crontab(hour=4, minute=0),
    },
    "newsletter-resume-stalled-sends": {
        "task": "newsletter.tasks.resume_stalled_sends",
        "schedule": 120.0,
    },
}

# --- Edge cache purges (skilldacity/edgecache) ---------------------------------------------
# The HTTP caches in front of the site to purge on change, as JSON, e.g.
# {"nginx": {"BACKEND": "skilldacity.edgecache.backends.NginxGenerationBackend", ...}}.
# Empty (the default): nothing to purge, nothing recorded.
EDGE_CACHE_BACKENDS = json.loads(os.environ.get("EDGE_CACHE_BACKENDS") or "{}")
# How often beat looks for scheduled articles that went live, to purge them.
EDGE_CACHE_SCHEDULE_SECONDS = float(os.environ.get("EDGE_CACHE_SCHEDULE_SECONDS", "10"))
MIDDLEWARE += ["skilldacity.edgecache.middleware.CacheTagMiddleware"]
if EDGE_CACHE_BACKENDS:
    CELERY_BEAT_SCHEDULE["edge-cache-sweep"] = {
        "task": "skilldacity.edgecache.tasks.sweep_purges",
        "schedule": OUTBOX_SWEEP_INTERVAL_SECONDS,
        "options": {"expires": OUTBOX_SWEEP_INTERVAL_SECONDS},
    }
    CELERY_BEAT_SCHEDULE["edge-cache-went-live"] = {
        "task": "articles.tasks.purge_went_live",
        "schedule": EDGE_CACHE_SCHEDULE_SECONDS,
        "options": {"expires": EDGE_CACHE_SCHEDULE_SECONDS},
    }

# --- Security ------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# A visitor who came through a referral link keeps the credit for the attribution window (30 days).
SESSION_COOKIE_AGE = 30 * 24 * 3600
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# How many reverse proxies (nginx, a load balancer) stand in front of the site and append to
# X-Forwarded-For. 0: the header is ignored and REMOTE_ADDR is the client (skilldacity/clientip.py).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

# Failed sign-ins to /admin/ and /accounts/login/, counted per IP and per username in the cache;
# at the limit further attempts get a 429 "try again later" page (skilldacity/security.py).
LOGIN_THROTTLE_RATE = os.environ.get("LOGIN_THROTTLE_RATE", "5/15m")
MIDDLEWARE += ["skilldacity.security.LoginThrottleMiddleware"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Logging -------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
