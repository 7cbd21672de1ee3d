"""Django settings for Control Tower.

Every value comes from the environment with a safe default (DEBUG is off unless asked for).
Where DATABASE_URL / REDIS_URL are unset, the embedded PostgreSQL and Redis are started
(controltower/runtime.py), so one command runs the whole product on a fresh machine.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from controltower.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# Core ---------------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PORT = env_int("PORT", 8000, minimum=1)
SANDBOX_PORT = env_int("SANDBOX_PORT", 8001, minimum=1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "channels",
    "controltower",
    "integrations",
    "exceptions_queue",
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "controltower.middleware.StaticFilesMiddleware",
    "controltower.middleware.refuse_nul_characters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "controltower.urls"
ASGI_APPLICATION = "controltower.asgi.application"
AUTH_USER_MODEL = "controltower.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
            ],
        },
    },
]

# Database and broker ------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = env_bool("CT_EMBEDDED", False) or not DATABASE_URL or not REDIS_URL
if not DATABASE_URL or not REDIS_URL:
    from controltower.runtime import ensure_embedded_services

    _embedded = ensure_embedded_services()
    DATABASE_URL = DATABASE_URL or _embedded.database_url
    REDIS_URL = REDIS_URL or _embedded.redis_url

# A deployment (DATABASE_URL set) must bring its own key; a local embedded run keeps one in var/.
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured("SECRET_KEY must be set (or SECRET_KEY_FILE) when DATABASE_URL is set")
    from controltower.runtime import local_secret_key

    SECRET_KEY = local_secret_key()

# A connection pool per process: under ASGI every request runs in a fresh thread, so persistent
# connections are never reused, and Celery closes them around every task; a new PostgreSQL
# connection costs more than the work most requests and tasks do (bench/README.md).
DB_POOL = env_bool("DB_POOL", True)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0 if DB_POOL else 60)}
if DB_POOL:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": env_int("DB_POOL_MAX_SIZE", 20, minimum=1), "timeout": 10}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish must not hang a web request when Redis is down: the row is committed and the
# sweeper re-rings it (PostgreSQL is the record, Redis only the doorbell).
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                   "socket_timeout": 2, "socket_connect_timeout": 2}
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
# Keep a worker process's database connection across tasks (recycled every N tasks): otherwise
# Celery's Django fixup closes the whole connection pool around every task.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 500, minimum=1)
CELERY_TASK_ROUTES = ("integrations.queues.route_task",)
SWEEP_INTERVAL_S = env_int("CT_SWEEP_INTERVAL_S", 5, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "sweep": {"task": "integrations.tasks.sweep", "schedule": float(SWEEP_INTERVAL_S)},
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 10},
    }
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Pipeline -----------------------------------------------------------------------------------------

METRICS_TOKEN = env_secret("CT_METRICS_TOKEN")  # when set, GET /metrics asks scrapers for it as a bearer token
MAX_MESSAGE_BYTES = env_int("CT_MAX_MESSAGE_BYTES", 1024 * 1024, minimum=1024)
MAX_BATCH_BYTES = env_int("CT_MAX_BATCH_BYTES", 16 * 1024 * 1024, minimum=1024)
MAX_BATCH_EVENTS = 1000
# Django refuses larger bodies itself; keep its limit above ours so our 413 answers first.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(MAX_MESSAGE_BYTES, MAX_BATCH_BYTES) + 64 * 1024
DELIVERY_BATCH_SIZE = env_int("CT_DELIVERY_BATCH_SIZE", 50, minimum=1)
DELIVERY_LEASE_S = env_int("CT_DELIVERY_LEASE_S", 60, minimum=5)
CONNECTOR_TIMEOUT_S = env_int("CT_CONNECTOR_TIMEOUT_S", 10, minimum=1)
SEQUENCE_WAIT_S = env_int("CT_SEQUENCE_WAIT_S", 3600, minimum=1)
MICRO_BATCH_INTERVAL_S = env_int("CT_MICRO_BATCH_INTERVAL_S", 300, minimum=1)
END_OF_DAY_TIME = env_str("CT_END_OF_DAY_TIME", "23:30")  # plant local time of the end-of-day run

# API ----------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "controltower.api.TimeCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "controltower.api.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Control Tower API",
    "DESCRIPTION": "Ingest canonical events from ERP, WMS, MES and QMS; follow transactions and deliveries.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Serve Swagger UI from the installed sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Several models have a `status`; name each choice set for what it is.
    "ENUM_NAME_OVERRIDES": {
        "TransactionStatusEnum": "integrations.choices.TransactionStatus",
        "DeliveryStatusEnum": "integrations.choices.DeliveryStatus",
        "QuarantineStatusEnum": "integrations.models.transactions.QuarantineStatus",
        "ExceptionStatusEnum": "exceptions_queue.models.Status",
        "ReplayJobStatusEnum": "integrations.models.replay.ReplayJob.Status",
    },
}

# Static, time, security ---------------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_str("STATIC_ROOT") or None  # only where collectstatic runs (Docker image)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG and not EMBEDDED)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
