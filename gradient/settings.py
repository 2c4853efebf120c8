"""Settings, read from the environment.

Every setting has a default that works on one machine with nothing running:
SQLite in the data folder and a private Redis that `make run` starts (see
gradient/launcher.py). Production and CI set DATABASE_URL and REDIS_URL.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("GRADIENT_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


def _redis_url() -> str | None:
    """REDIS_URL, else the private Redis that a running `make run` announced in the data folder."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    announced = DATA_DIR / "run" / "redis.url"
    if announced.exists():
        return announced.read_text().strip() or None
    return None


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG", False)
PORT = int(os.environ.get("PORT", "8000"))
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]
CSRF_TRUSTED_ORIGINS = [
    origin.strip()
    for origin in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",")
    if origin.strip()
]

# HTTPS in production (`SECURE_HTTPS=true`): plain-HTTP requests are redirected,
# cookies are sent over HTTPS only and browsers are told (HSTS) to never use
# HTTP again. Behind a reverse proxy that ends TLS, the proxy's header says
# whether the client's request was HTTPS; only set it when the proxy always
# sets (or strips) that header, or a client could claim HTTPS itself.
SECURE_HTTPS = _env_bool("SECURE_HTTPS", False)
if SECURE_HTTPS:
    SECURE_SSL_REDIRECT = True
    # Load balancers and the launcher probe /healthz over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)
    _proxy_header = os.environ.get("SECURE_PROXY_HEADER", "X-Forwarded-Proto").strip()
    if _proxy_header:
        SECURE_PROXY_SSL_HEADER = (
            "HTTP_" + _proxy_header.upper().replace("-", "_"),
            "https",
        )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "workflows",
    "runs",
    "triggers",
    "dashboard",
]

MIDDLEWARE = [
    # Outermost, so that it sees every error answer of /api/ and /gradient/.
    "gradient.api_errors.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the answer of lockout_response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gradient.urls"
ASGI_APPLICATION = "gradient.asgi.application"
WSGI_APPLICATION = "gradient.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web server write concurrently: WAL lets readers go on
    # during a write, IMMEDIATE takes the write lock up front instead of
    # failing halfway with "database is locked", and the timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Tests start worker processes that must see the test database: a file, not
    # memory; one per test process, so that two suites can run side by side.
    DATABASES["default"]["TEST"] = {
        "NAME": str(DATA_DIR / "test-databases" / f"test-{os.getpid()}.sqlite3")
    }
    (DATA_DIR / "test-databases").mkdir(exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Login throttling (gradient/login_throttle.py): after AXES_FAILURE_LIMIT wrong
# passwords for one username from one address, that pair waits the cool-off.
AUTHENTICATION_BACKENDS = [
    "gradient.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "gradient.login_throttle.lockout_response"
# One row per successful login would grow without end; failures are what count.
AXES_DISABLE_ACCESS_LOG = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The image collects static files at build time into its own folder (STATIC_ROOT
# in the Dockerfile); a checkout collects them into the data folder.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "staticfiles")).resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REDIS_URL = _redis_url()

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every
# task unless this is set, which costs a job a reconnect; connections are
# kept for CONN_MAX_AGE instead and checked before reuse, but by a job's task
# right after the task before (gradient/celery.py).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The reconciler queues again what the database says must run and no message
# will start (runs.engine.reconciler); a lost message costs at most this long.
RECONCILE_SECONDS = float(os.environ.get("RECONCILE_SECONDS", "10"))
CELERY_BEAT_SCHEDULE = {
    "reconcile-runs": {
        "task": "runs.tasks.runs_reconcile",
        "schedule": RECONCILE_SECONDS,
        # A pass that waited longer than a period behind busy workers is dropped:
        # the next one is on its way, and passes must not pile up.
        "options": {"expires": RECONCILE_SECONDS},
    },
    "poll-git-repositories": {
        "task": "workflows.git.tasks.repositories_poll",
        "schedule": float(os.environ.get("GIT_POLL_SECONDS", "60")),
    },
}

# Local engine: seconds between SIGTERM and SIGKILL when a job is canceled or times out.
LOCAL_ENGINE_STOP_GRACE_SECONDS = float(os.environ.get("LOCAL_ENGINE_STOP_GRACE_SECONDS", "10"))
# A running job's worker writes a heartbeat this often; a job whose heartbeat is
# older than the lease has lost its worker and is retried or failed.
LOCAL_ENGINE_HEARTBEAT_SECONDS = float(os.environ.get("LOCAL_ENGINE_HEARTBEAT_SECONDS", "5"))
LOCAL_ENGINE_LEASE_SECONDS = float(os.environ.get("LOCAL_ENGINE_LEASE_SECONDS", "30"))
# How jobs run: in their image with podman or docker, or on the host under
# bubblewrap; `auto` takes the first of podman, docker, bwrap that works here.
LOCAL_ENGINE_RUNTIME = os.environ.get("LOCAL_ENGINE_RUNTIME", "auto")
# podman only: a folder for images and containers instead of podman's default
# storage (tests use a private one).
LOCAL_ENGINE_IMAGE_STORE = os.environ.get("LOCAL_ENGINE_IMAGE_STORE", "")
# "docker.io=HOST:PORT,…": pulls of images on a registry go through its mirrors first.
LOCAL_ENGINE_REGISTRY_MIRRORS = os.environ.get("LOCAL_ENGINE_REGISTRY_MIRRORS", "")
# Registries (HOST:PORT, comma-separated) reached over plain HTTP; loopback ones always are.
LOCAL_ENGINE_INSECURE_REGISTRIES = os.environ.get("LOCAL_ENGINE_INSECURE_REGISTRIES", "")
# The GPUs of this worker host that jobs may have, as comma-separated device
# indexes ("0,1,2,3"); empty: none. Each job asking for N gets N of its own.
LOCAL_ENGINE_GPUS = os.environ.get("LOCAL_ENGINE_GPUS", "")
# A job's limits when its cluster gives it no instance type: memory (e.g. 4Gi),
# processes, CPUs (empty: no limit). On the host (bubblewrap) they are per-job
# cgroups where a root worker may make cgroup v1 groups, else rlimits (memory
# per process, processes per uid; no CPU bound).
LOCAL_ENGINE_DEFAULT_MEMORY = os.environ.get("LOCAL_ENGINE_DEFAULT_MEMORY", "4Gi")
LOCAL_ENGINE_DEFAULT_PIDS = os.environ.get("LOCAL_ENGINE_DEFAULT_PIDS", "1024")
LOCAL_ENGINE_DEFAULT_CPUS = os.environ.get("LOCAL_ENGINE_DEFAULT_CPUS", "")
# The size of a job's /tmp (memory-backed), and of what it may write into
# /workspace and /outputs together (on the host also the largest one file).
LOCAL_ENGINE_TMP_SIZE = os.environ.get("LOCAL_ENGINE_TMP_SIZE", "1Gi")
LOCAL_ENGINE_WRITABLE_MAX = os.environ.get("LOCAL_ENGINE_WRITABLE_MAX", "20Gi")
# The unprivileged uid (and gid) a job runs as when the worker is root; a
# worker that is not root runs each job in a user namespace of its own, as the
# worker's uid outside. 0 is refused.
LOCAL_ENGINE_JOB_UID = int(os.environ.get("LOCAL_ENGINE_JOB_UID", "65534"))
# With network on, a job reaches the outside through a user-mode network that
# refuses the host's loopback (Redis, PostgreSQL, the dashboard). Turning this
# on lets jobs reach the host's 127.0.0.1 as 10.0.2.2: only on a one-person machine.
LOCAL_ENGINE_ALLOW_HOST_LOOPBACK = _env_bool("LOCAL_ENGINE_ALLOW_HOST_LOOPBACK", False)
# file:// URLs and host paths as git repositories (repository links and the
# git-checkout action): handy on one's own machine, a way to read the host's
# repositories on a shared server, so off unless turned on. Even on, the
# server's own files (data folder, checkout) are never read as a repository.
ALLOW_LOCAL_REPOSITORIES = _env_bool("ALLOW_LOCAL_REPOSITORIES", False)

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "gradient.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "gradient.api_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gradient Workflows API",
    "DESCRIPTION": "Projects, workflows, runs, logs, datasets and secrets.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunPhaseEnum": "runs.models.RunPhase",
        "JobPhaseEnum": "runs.models.JobPhase",
    },
}

# Largest spec text accepted anywhere (API, editor, CLI surface).
SPEC_MAX_BYTES = 1024 * 1024
# Most jobs in one spec, hence one run: past it the validator reports an
# error at the spec's `jobs:` line. Stored specs are not checked again.
MAX_JOBS_PER_RUN = int(os.environ.get("MAX_JOBS_PER_RUN", "5000"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
