"""Settings come from the environment, with defaults that work on a bare machine."""

import json
import os
import stat
import subprocess
import sys

from tests.processes import REPO

PRINT_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "secret_key": settings.SECRET_KEY,
    "debug": settings.DEBUG,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "port": settings.PORT,
    "database": settings.DATABASES["default"]["ENGINE"],
    "database_name": str(settings.DATABASES["default"]["NAME"]),
    "redis_url": settings.REDIS_URL,
    "broker": settings.CELERY_BROKER_URL,
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "allow_local_repositories": settings.ALLOW_LOCAL_REPOSITORIES,
    "static_root": str(settings.STATIC_ROOT),
}))
"""


def read_settings(data_dir, **env):
    clean = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "SECRET_KEY",
            "DATABASE_URL",
            "REDIS_URL",
            "DEBUG",
            "ALLOWED_HOSTS",
            "PORT",
            "ALLOW_LOCAL_REPOSITORIES",
            "STATIC_ROOT",
        }
    }
    clean.update(GRADIENT_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="gradient.settings", **env)
    output = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output)


def test_defaults_need_nothing_running(tmp_path):
    values = read_settings(tmp_path)

    assert values["database"] == "django.db.backends.sqlite3"
    assert values["database_name"] == str(tmp_path / "db.sqlite3")
    assert values["redis_url"] is None
    assert values["broker"] == "memory://"
    assert values["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    assert values["debug"] is False
    assert values["port"] == 8000
    assert values["static_root"] == str(tmp_path / "staticfiles")


def test_the_image_collects_static_files_outside_the_data_folder(tmp_path):
    values = read_settings(tmp_path / "data", STATIC_ROOT=str(tmp_path / "static"))

    assert values["static_root"] == str(tmp_path / "static")
    assert (tmp_path / "static").is_dir()


def test_secret_key_is_generated_once_kept_private_and_reused(tmp_path):
    first = read_settings(tmp_path)["secret_key"]
    second = read_settings(tmp_path)["secret_key"]

    key_file = tmp_path / "secret_key"
    assert first == second == key_file.read_text().strip()
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_environment_overrides_every_default(tmp_path):
    values = read_settings(
        tmp_path,
        SECRET_KEY="from-the-environment",
        DEBUG="true",
        ALLOWED_HOSTS="example.org, dash.example.org",
        PORT="9123",
        DATABASE_URL="postgres://someone@db.internal:5432/gradient",
        REDIS_URL="redis://cache.internal:6379/3",
    )

    assert values["secret_key"] == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()
    assert values["debug"] is True
    assert values["allowed_hosts"] == ["example.org", "dash.example.org"]
    assert values["port"] == 9123
    assert values["database"] == "django.db.backends.postgresql"
    assert values["database_name"] == "gradient"
    assert values["redis_url"] == values["broker"] == "redis://cache.internal:6379/3"
    assert values["channel_layer"] == "channels_redis.core.RedisChannelLayer"


def test_a_running_private_redis_is_found_through_the_data_folder(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "redis.url").write_text("redis://127.0.0.1:41234/0\n")

    assert read_settings(tmp_path)["redis_url"] == "redis://127.0.0.1:41234/0"


def _check_deploy(data_dir, **env) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SECURE_")}
    clean.update(GRADIENT_DATA_DIR=str(data_dir), DEBUG="false", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
    )


PRODUCTION = {
    "SECRET_KEY": "k7#Qv9!zR2@wL5$xN8^pT3&mY6*bH1(cJ4)dF0-gS2+eU7=aW9~iO5",
    "ALLOWED_HOSTS": "gradient.example.org",
}


def test_check_deploy_is_clean_with_a_key_hosts_and_https(tmp_path):
    checked = _check_deploy(tmp_path, **PRODUCTION, SECURE_HTTPS="true")

    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "System check identified no issues" in checked.stdout


def test_without_https_check_deploy_names_what_is_missing(tmp_path):
    checked = _check_deploy(tmp_path, **PRODUCTION)

    assert checked.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in checked.stderr


PRINT_SECURITY = """
import json
from django.conf import settings
print(json.dumps({
    "redirect": settings.SECURE_SSL_REDIRECT,
    "exempt": settings.SECURE_REDIRECT_EXEMPT,
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
    "hsts": settings.SECURE_HSTS_SECONDS,
}))
"""


def test_https_behind_a_proxy_reads_the_header_it_is_told(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("SECURE_")} | {
        "GRADIENT_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "gradient.settings",
        "SECURE_HTTPS": "true",
        "SECURE_PROXY_HEADER": "X-Forwarded-Scheme",
        "SECURE_HSTS_SECONDS": "600",
    }
    output = subprocess.run(
        [sys.executable, "-c", PRINT_SECURITY], cwd=REPO, env=env, capture_output=True, text=True
    )
    values = json.loads(output.stdout)

    assert values == {
        "redirect": True,
        "exempt": ["^healthz$"],
        "proxy_header": ["HTTP_X_FORWARDED_SCHEME", "https"],
        "hsts": 600,
    }
