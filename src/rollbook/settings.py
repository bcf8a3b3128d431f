"""Django settings for Rollbook.

Every setting an operator may change is read from an environment variable
prefixed ``ROLLBOOK_``; the README lists them all with their defaults.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from rollbook.catalog.data import ModeSlug


def env_str(name: str, default: str) -> str:
    """Return ``ROLLBOOK_<name>`` or ``default``."""
    return os.environ.get(f"ROLLBOOK_{name}", default)


def env_bool(name: str, default: bool) -> bool:
    """Return ``ROLLBOOK_<name>`` read as a boolean (1/0, true/false, yes/no, on/off)."""
    raw = os.environ.get(f"ROLLBOOK_{name}")
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"ROLLBOOK_{name}={raw!r} is not a boolean (use true or false).")


def env_int(name: str, default: int) -> int:
    """Return ``ROLLBOOK_<name>`` read as an integer."""
    raw = os.environ.get(f"ROLLBOOK_{name}")
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"ROLLBOOK_{name}={raw!r} is not an integer.") from exc


def env_list(name: str, default: str) -> list[str]:
    """Return ``ROLLBOOK_<name>`` split on commas, blanks dropped."""
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


DATA_DIR = Path(env_str("DATA_DIR", str(Path.cwd() / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "rollbook-insecure-development-key-change-me-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "simple_history",
    "rollbook.core",
    "rollbook.identity",
    "rollbook.catalog",
    "rollbook.enrollments",
    "rollbook.records",
    "rollbook.programs",
    "rollbook.enterprise",
    "rollbook.budgets",
    "rollbook.assignments",
    "rollbook.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "rollbook.urls"
WSGI_APPLICATION = "rollbook.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'rollbook.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env_bool("DATABASE_JIT", False):
    # Short OLTP queries: PostgreSQL's JIT compiles longer than they run (the admin assignment list: ~1 s of
    # compilation for ~0.15 s of work), so it is off unless ROLLBOOK_DATABASE_JIT asks for it.
    existing = DATABASES["default"].setdefault("OPTIONS", {}).get("options", "")
    DATABASES["default"]["OPTIONS"]["options"] = f"{existing} -c jit=off".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "identity.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "/admin/login/"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(DATA_DIR / "mail")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "rollbook@localhost")

# --- REST ---------------------------------------------------------------------------------------
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 500)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rollbook.core.auth.JwtAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rollbook.core.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rollbook.core.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Rollbook API",
    "DESCRIPTION": "Catalog, enrollments, programs, enterprise, budgets, assignments and records.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "jwtAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`JWT <token>` or `Bearer <token>` from POST /oauth2/access_token",
            },
        }
    },
    "SECURITY": [{"jwtAuth": []}],
    # course-mode slugs appear in catalog and enrollment shapes: one enum for both
    "ENUM_NAME_OVERRIDES": {"CourseModeEnum": [m.value for m in ModeSlug]},
}

# --- JWT / OAuth2 client credentials ------------------------------------------------------------
JWT_SECRET_KEY = env_str("JWT_SECRET_KEY", SECRET_KEY)
JWT_ISSUER = env_str("JWT_ISSUER", "rollbook")
JWT_AUDIENCE = env_str("JWT_AUDIENCE", "rollbook")
JWT_EXPIRES_IN = timedelta(seconds=env_int("JWT_EXPIRES_IN", 3600))

# --- Catalog ------------------------------------------------------------------------------------
ORGANIZATIONS_AUTOCREATE = env_bool("ORGANIZATIONS_AUTOCREATE", True)

# --- Bulk operations ----------------------------------------------------------------------------
BULK_BATCH_SIZE = env_int("BULK_BATCH_SIZE", 1000)
BULK_MAX_ITEMS = env_int("BULK_MAX_ITEMS", 10000)

# --- Programs -----------------------------------------------------------------------------------
PROGRAM_WRITE_MAX_RECORDS = env_int("PROGRAM_WRITE_MAX_RECORDS", 100_000)
PROGRAM_UPLOAD_MAX_BYTES = env_int("PROGRAM_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)

# --- Celery -------------------------------------------------------------------------------------
_BROKER_URL = env_str("BROKER_URL", "")
# Without a broker, tasks run in-process; "memory://" keeps Celery from reaching for a default AMQP server.
CELERY_BROKER_URL = _BROKER_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not _BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("RESULT_BACKEND", "")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Assignment emails a connection failure left unsent are retried after about this many seconds, doubling.
ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS = env_int("ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS", 60)
# Daily jobs run by `celery beat` (times in UTC); `rollbook assignments expire|retire-pii` runs them by hand.
# PII retirement follows expiry, so that it sees the assignments expired (and emailed) the same night.
CELERY_BEAT_SCHEDULE = {
    "assignments-expire-due": {"task": "assignments.expire_due", "schedule": crontab(hour=3, minute=0)},
    "assignments-retire-expired-pii": {
        "task": "assignments.retire_expired_pii",
        "schedule": crontab(hour=4, minute=30),
    },
}

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
