"""Settings of the bundled laaffic-recall site, read from the environment and ``.env``."""

import os
import tempfile
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, True),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
    LAAFFIC_API_KEY=(str, ""),
    LAAFFIC_API_SECRET=(str, ""),
    LAAFFIC_BASE_URL=(str, "https://api.laaffic.com"),
    LAAFFIC_PRODUCT=(str, "ai_agent"),
    LAAFFIC_REMOTE_TIMEZONE=(str, "UTC"),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# A development default: `manage.py check --deploy` flags it (too short, "insecure" prefix).
SECRET_KEY = env("SECRET_KEY", default="django-insecure-laaffic-recall-development-only")
DEBUG = env("DEBUG")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")

# HTTPS, for a site served over TLS (each is one that `manage.py check --deploy` asks for).
# Off by default, so that the demo and `runserver` work over plain HTTP.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Behind a proxy that terminates TLS, the header it sets and its value for HTTPS, e.g.
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https (else SECURE_SSL_REDIRECT loops).
SECURE_PROXY_SSL_HEADER = tuple(env.list("SECURE_PROXY_SSL_HEADER", default=[])) or None
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "laaffic_recall",
    # The local LAAFFIC stand-in, served under /sandbox/ (optional in a host project).
    "laaffic_recall.sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The agent's language: the one chosen in the admin header, else the browser's.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

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
                "project.context_processors.laaffic",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The site calls its own sandbox over HTTP while it writes (sync, cancel): take the
    # write lock when a transaction starts and wait for it, instead of failing with
    # "database is locked"; WAL lets readers run beside the writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
        }
    )
    # The tests' database is a file too, so the threads that serve the site in a test
    # (the demo's local server, the browser tests' live server) each open their own
    # connection to it; one per process, so test runs side by side never share one.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"laaffic-recall-test-{os.getpid()}.sqlite3")
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
# The bundled site's own strings (header, sandbox badge); the app's ship inside it.
LOCALE_PATHS = [BASE_DIR / "project" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The local LAAFFIC sandbox: the demo key/secret pair it accepts, used by both sides
# (LAAFFIC_SANDBOX_* variables override them).
LAAFFIC_SANDBOX = {
    "API_KEY": env("LAAFFIC_SANDBOX_API_KEY", default="sandbox-demo-key"),
    "API_SECRET": env("LAAFFIC_SANDBOX_API_SECRET", default="sandbox-demo-secret"),
    "TIMEZONE": env("LAAFFIC_REMOTE_TIMEZONE"),
    "ENVELOPE": env("LAAFFIC_SANDBOX_ENVELOPE", default="code"),
}

# Without LAAFFIC_API_KEY the site talks to its own sandbox (the SANDBOX badge in the admin
# header says so; `manage.py laaffic_demo` seeds it). With it, to the real API.
# The sandbox's endpoints are served only while the site uses it: a site configured for the
# real API does not expose a stand-in that accepts the public demo key.
LAAFFIC_SANDBOX_SERVED = not env("LAAFFIC_API_KEY")

if env("LAAFFIC_API_KEY"):
    LAAFFIC_RECALL = {
        "API_KEY": env("LAAFFIC_API_KEY"),
        "API_SECRET": env("LAAFFIC_API_SECRET"),
        "BASE_URL": env("LAAFFIC_BASE_URL"),
        "PRODUCT": env("LAAFFIC_PRODUCT"),
        "REMOTE_TIMEZONE": env("LAAFFIC_REMOTE_TIMEZONE"),
        "AUDIT_CHAIN_KEY": env("LAAFFIC_AUDIT_CHAIN_KEY", default=""),
    }
else:
    LAAFFIC_RECALL = {
        "API_KEY": LAAFFIC_SANDBOX["API_KEY"],
        "API_SECRET": LAAFFIC_SANDBOX["API_SECRET"],
        # Where the served site reaches its own /sandbox/ (laaffic_demo uses its --addrport).
        "BASE_URL": env("LAAFFIC_SANDBOX_URL", default="http://127.0.0.1:8000/sandbox"),
        "PRODUCT": env("LAAFFIC_PRODUCT"),
        "REMOTE_TIMEZONE": env("LAAFFIC_REMOTE_TIMEZONE"),
        # A public demo key, so the demo's audit log is chained; never one for real use.
        "AUDIT_CHAIN_KEY": env("LAAFFIC_AUDIT_CHAIN_KEY", default="sandbox-demo-audit-chain-key"),
        # What laaffic_sync says when nothing answers at BASE_URL, e.g. in a second shell
        # while the demo runs on another address.
        "UNREACHABLE_HINT": gettext_lazy(
            "No LAAFFIC sandbox runs there: start the demo (manage.py laaffic_demo), or, if "
            "it runs on another address, set LAAFFIC_SANDBOX_URL=http://HOST:PORT/sandbox in "
            "this shell (the demo prints the line to paste)."
        ),
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "laaffic_recall": {
            "handlers": ["console"],
            "level": env("LAAFFIC_LOG_LEVEL", default="WARNING"),
        }
    },
}
