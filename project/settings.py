"""Settings of the bundled laaffic-recall site, read from the environment and ``.env``."""

from pathlib import Path

import environ

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

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "laaffic_recall",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
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
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LAAFFIC_RECALL = {
    "API_KEY": env("LAAFFIC_API_KEY"),
    "API_SECRET": env("LAAFFIC_API_SECRET"),
    "BASE_URL": env("LAAFFIC_BASE_URL"),
    "PRODUCT": env("LAAFFIC_PRODUCT"),
    "REMOTE_TIMEZONE": env("LAAFFIC_REMOTE_TIMEZONE"),
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
