"""The container runtime's pure parts: image names, registries.conf, pull progress, the argv."""

import json
from pathlib import Path

import pytest

from runs.engine.local import containers
from runs.engine.local.containers import (
    CLIENT_GO_RUNTIME,
    Container,
    Runtime,
    RuntimeUnavailable,
    _runtime_choice,
    _seccomp_profile_64bit,
    seccomp_profile_64bit,
)
from runs.engine.local.images import (
    ImageError,
    PullProgress,
    RegistrySettings,
    image_reference,
)
from runs.engine.local.sandbox import LimitError, Limits, Sandbox
from workflows.clusters import InstanceType

PODMAN = Runtime("podman", engine=("/usr/bin/podman", "--runtime=/usr/sbin/runc"))
DOCKER = Runtime("docker", engine=("/usr/bin/docker",))


@pytest.mark.parametrize(
    ("image", "full"),
    [
        ("bash:5", "docker.io/library/bash:5"),
        ("ubuntu", "docker.io/library/ubuntu:latest"),
        ("org/app:1.2", "docker.io/org/app:1.2"),
        ("ghcr.io/org/app", "ghcr.io/org/app:latest"),
        ("127.0.0.1:5000/team/app:v2", "127.0.0.1:5000/team/app:v2"),
        ("localhost/app:dev", "localhost/app:dev"),
        ("bash@sha256:" + "a" * 64, "docker.io/library/bash@sha256:" + "a" * 64),
    ],
)
def test_image_names_are_spelled_out_by_dockers_rules(image, full):
    assert image_reference(image).full == full


@pytest.mark.parametrize("image", ["", "Bash:5", "bash:5 --privileged", "a//b", "-v/:/host"])
def test_a_name_that_is_no_image_is_refused_saying_how_to_write_one(image):
    with pytest.raises(ImageError, match="is not an image name; write it as Docker does"):
        image_reference(image)


def test_mirrors_and_loopback_registries_make_the_registries_conf(settings):
    settings.LOCAL_ENGINE_REGISTRY_MIRRORS = "docker.io=127.0.0.1:5000, docker.io=mirror.lan:443"
    settings.LOCAL_ENGINE_INSECURE_REGISTRIES = "mirror.lan:443"
    registries = RegistrySettings.from_settings()

    conf = registries.registries_conf(image_reference("bash:5"))

    assert registries.sources(image_reference("bash:5")) == [
        "127.0.0.1:5000",
        "mirror.lan:443",
        "docker.io",
    ]
    assert 'prefix = "docker.io"\nlocation = "registry-1.docker.io"\ninsecure = false' in conf
    assert '[[registry.mirror]]\nlocation = "127.0.0.1:5000"\ninsecure = true' in conf
    assert '[[registry.mirror]]\nlocation = "mirror.lan:443"\ninsecure = true' in conf
    assert 'short-name-mode = "disabled"' in conf


def test_a_registry_elsewhere_needs_tls_unless_listed_and_a_bad_mirror_setting_says_so(settings):
    settings.LOCAL_ENGINE_REGISTRY_MIRRORS = ""
    registries = RegistrySettings.from_settings()
    conf = registries.registries_conf(image_reference("registry.lan:5000/app"))
    assert 'prefix = "registry.lan:5000"\nlocation = "registry.lan:5000"\ninsecure = false' in conf
    assert registries.plain_http("[::1]:5000") and registries.plain_http("localhost:5000")

    settings.LOCAL_ENGINE_REGISTRY_MIRRORS = "docker.io"
    with pytest.raises(ImageError, match='"docker.io" is not REGISTRY=MIRROR'):
        RegistrySettings.from_settings()


def test_pull_progress_counts_podman_and_docker_layers():
    podman = PullProgress()
    for line in [
        "Trying to pull docker.io/library/bash:5...",
        "Getting image source signatures",
        "Copying blob sha256:7658e72211722a2e2a48b243568690beaffb7c5abbc8bf8dcb0fdb2aec481f09",
        "Copying blob sha256:ae5d6f839e495b8bca185e50dd9da9ab7c71738ca90f993fbb94a1cd73c53661",
        "Copying blob b25f77b94927 skipped: already exists",
    ]:
        podman.feed(line)
    assert podman.summary() == "1/3 layers"
    podman.feed("Copying config sha256:09a43bedad5a")
    assert podman.summary() == "3/3 layers"

    docker = PullProgress()
    assert docker.summary() == "starting"
    for line in [
        "5: Pulling from library/bash",
        "7658e7221172: Pulling fs layer",
        "ae5d6f839e49: Pulling fs layer",
        "7658e7221172: Download complete",
        "7658e7221172: Pull complete",
    ]:
        docker.feed(line)
    assert docker.summary() == "1/2 layers"


def _container(tmp_path: Path, runtime=PODMAN, network=True, gpus=()) -> Container:
    sandbox = Sandbox(
        argv=["bash", "/gradient/script.sh"],
        env={"TOKEN": "s3cr3t", "PATH": "/opt/bin:/usr/bin", "weird-name": "x"},
        workdir=tmp_path / "workspace",
        read_only={"/inputs/data": tmp_path / "data", "/gradient/script.sh": tmp_path / "s.sh"},
        writable={"/outputs": tmp_path / "outputs"},
        network=network,
        hostname="train",
    )
    limits = Limits(memory=64 * 2**20, cpus=1.5, pids=100, gpus=len(gpus), tmp=2**20, writable=0)
    return Container(runtime, "gw-jabc-1", "docker.io/library/bash:5", sandbox, limits, gpus)


def test_the_run_command_isolates_and_limits_and_carries_no_secret(tmp_path):
    command, env = _container(tmp_path).command()

    text = " ".join(command)
    assert "s3cr3t" not in text, "a value other users could read in ps"
    assert (
        env["TOKEN"] == "s3cr3t" and ["--env", "TOKEN"] == command[command.index("TOKEN") - 1 :][:2]
    )
    assert "--env PATH=/opt/bin:/usr/bin" in text and "--env weird-name=x" in text
    assert env["PATH"] != "/opt/bin:/usr/bin", "the client keeps its own PATH"
    for flag in [
        "--rm",
        "--init",
        "--pull=never",
        "--network=slirp4netns:allow_host_loopback=false",
        "--uidmap=0:100000:65536",
        "--gidmap=0:100000:65536",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--memory={64 * 2**20}",
        f"--memory-swap={64 * 2**20}",
        "--cpus=1.5",
        "--pids-limit=100",
        "--cgroup-parent",
        "/gradient/gw-jabc-1",
        f"--tmpfs=/tmp:rw,exec,nosuid,nodev,size={2**20},mode=1777",
        f"type=bind,source={tmp_path / 'data'},target=/inputs/data,readonly",
        f"type=bind,source={tmp_path / 'outputs'},target=/outputs",
    ]:
        assert flag in command, flag
    assert command[-3:] == ["docker.io/library/bash:5", "bash", "/gradient/script.sh"]
    assert "SECRET_KEY" not in env and "DATABASE_URL" not in env


def test_no_network_and_gpus_by_runtime(tmp_path):
    podman, _ = _container(tmp_path, network=False, gpus=(1, 3)).command()
    assert "--network=none" in podman
    assert "nvidia.com/gpu=1" in podman and "nvidia.com/gpu=3" in podman

    docker, _ = _container(tmp_path, runtime=DOCKER, gpus=(2,)).command()
    assert docker[docker.index("--gpus") + 1] == "device=2"
    assert "--rm" not in docker, "Docker keeps the container until it has been inspected"


def test_the_client_runs_lean_and_a_jobs_go_settings_reach_only_the_job(tmp_path):
    container = _container(tmp_path)
    container.sandbox.env["GOGC"] = "50"
    command, env = container.command()

    assert {name: env[name] for name in CLIENT_GO_RUNTIME} == CLIENT_GO_RUNTIME
    assert "--env GOGC=50" in " ".join(command)
    _, docker_env = _container(tmp_path, runtime=DOCKER).command()
    assert not set(CLIENT_GO_RUNTIME) & set(docker_env), "Docker's client copies the output"


def test_the_client_reaches_the_workers_engine_and_gets_nothing_else_of_its_environment(
    tmp_path, monkeypatch, settings
):
    settings.DATA_DIR = tmp_path
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", "/srv/containers/storage.conf")
    monkeypatch.setenv("DOCKER_CONFIG", "/root/.docker")
    monkeypatch.setenv("SECRET_KEY", "the-servers-own")
    container = _container(tmp_path, runtime=DOCKER)
    jobs_own = {
        "DOCKER_HOST": "tcp://the-jobs-own:2375",
        "DOCKER_TLS_VERIFY": "1",
        "CONTAINER_HOST": "tcp://the-jobs-own:8080",
        "DOCKER_CONFIG": "/workspace/.docker",
    }
    container.sandbox.env.update(jobs_own)
    command, env = container.command()

    assert env["DOCKER_HOST"] == "unix:///run/user/1000/docker.sock"
    assert env["CONTAINERS_STORAGE_CONF"] == "/srv/containers/storage.conf"
    for name, value in jobs_own.items():
        assert f"--env {name}={value}" in " ".join(command), name
    assert "CONTAINER_HOST" not in env and "DOCKER_TLS_VERIFY" not in env
    assert "SECRET_KEY" not in env
    # Not the host's Docker configuration (contexts, proxies, logins): an empty folder.
    assert env["DOCKER_CONFIG"] == str(tmp_path / "engine-client")
    assert [p.name for p in (tmp_path / "engine-client").iterdir()] == ["config.json"]
    assert (tmp_path / "engine-client" / "config.json").read_text() == "{}\n"
    assert set(containers.engine_environment()) == {
        "PATH",
        "DOCKER_HOST",
        "DOCKER_CONFIG",
        "CONTAINERS_STORAGE_CONF",
    }


def test_tls_to_a_daemon_finds_the_workers_certificates_whatever_home_a_call_has(
    monkeypatch, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    monkeypatch.setenv("HOME", "/home/worker")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")

    assert containers.engine_environment()["DOCKER_CERT_PATH"] == "/home/worker/.docker"


def test_each_capability_is_a_flag_of_its_own_as_docker_reads_them(tmp_path):
    for runtime in (PODMAN, DOCKER):
        command, _ = _container(tmp_path, runtime=runtime).command()
        added = [arg.removeprefix("--cap-add=") for arg in command if arg.startswith("--cap-add")]
        assert added == list(containers.CAPABILITIES)


@pytest.fixture
def default_seccomp(tmp_path, monkeypatch):
    """A default seccomp profile as containers-common ships it, in the place podman reads."""
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [
            {
                "architecture": "SCMP_ARCH_X86_64",
                "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            },
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}],
    }
    path = tmp_path / "seccomp.json"
    path.write_text(json.dumps(profile))
    monkeypatch.setattr(containers, "SECCOMP_PROFILES", (tmp_path / "absent.json", path))
    _seccomp_profile_64bit.cache_clear()
    yield profile
    _seccomp_profile_64bit.cache_clear()


def test_containers_get_the_default_seccomp_profile_without_32_bit_abis(tmp_path, default_seccomp):
    for runtime in (PODMAN, DOCKER):
        command, _ = _container(tmp_path, runtime=runtime).command()

        flag = next(arg for arg in command if arg.startswith("--security-opt=seccomp="))
        written = json.loads(Path(flag.partition("=seccomp=")[2]).read_text())
        assert [arch["subArchitectures"] for arch in written["archMap"]] == [[], []]
        assert written["syscalls"] == default_seccomp["syscalls"]
        assert written["defaultAction"] == "SCMP_ACT_ERRNO"


def test_a_removed_seccomp_profile_is_written_again_and_none_means_podmans_own(
    tmp_path, default_seccomp, monkeypatch
):
    profile = seccomp_profile_64bit()
    profile.unlink()
    assert seccomp_profile_64bit() == profile and profile.exists()

    monkeypatch.setattr(containers, "SECCOMP_PROFILES", (tmp_path / "absent.json",))
    _seccomp_profile_64bit.cache_clear()
    assert seccomp_profile_64bit() is None
    command, _ = _container(tmp_path).command()
    assert not any(arg.startswith("--security-opt=seccomp") for arg in command)


def test_limits_come_from_the_instance_type_then_the_settings(settings):
    settings.LOCAL_ENGINE_DEFAULT_MEMORY = "4Gi"
    settings.LOCAL_ENGINE_DEFAULT_PIDS = "1024"
    settings.LOCAL_ENGINE_DEFAULT_CPUS = ""
    defaults = Limits.for_job(None)
    assert (defaults.memory, defaults.pids, defaults.cpus, defaults.gpus) == (
        4 * 2**30,
        1024,
        None,
        0,
    )

    shaped = Limits.for_job(InstanceType(cpu=2.0, memory_bytes=2**30, gpu=1, pids=50))
    assert (shaped.memory, shaped.pids, shaped.cpus, shaped.gpus) == (2**30, 50, 2.0, 1)

    settings.LOCAL_ENGINE_DEFAULT_MEMORY = "lots"
    with pytest.raises(LimitError, match='LOCAL_ENGINE_DEFAULT_MEMORY "lots" is not a quantity'):
        Limits.for_job(None)


def test_an_unknown_runtime_setting_is_refused_naming_the_choices():
    with pytest.raises(RuntimeUnavailable, match="use one of auto, podman, docker, bwrap"):
        _runtime_choice("kubernetes", "")
    assert _runtime_choice("bwrap", "").name == "bwrap"


def test_auto_falls_back_to_bubblewrap_and_the_log_says_why(monkeypatch):
    from runs.engine.local.executor import _intro
    from workflows.spec import parse_spec

    monkeypatch.setattr("runs.engine.local.containers.shutil.which", lambda name, **_: None)
    choose = _runtime_choice.__wrapped__

    fallback = choose("auto", "")
    with pytest.raises(RuntimeUnavailable, match="LOCAL_ENGINE_RUNTIME=podman, but podman is not"):
        choose("podman", "")

    assert fallback == Runtime(
        "bwrap",
        reason="LOCAL_ENGINE_RUNTIME=auto found no container engine: podman is not installed; "
        "docker is not installed",
    )
    spec = parse_spec(
        "jobs:\n  a:\n    uses: script@v1\n    with: {image: 'bash:5', script: ls}\n"
    ).spec
    assert _intro(spec.job("a"), fallback) == (
        'the spec asks for the image "bash:5"; the local engine ran this job on the host\'s file '
        "system instead, in a bubblewrap sandbox (LOCAL_ENGINE_RUNTIME=auto found no container "
        "engine: podman is not installed; docker is not installed)"
    )
    assert _intro(spec.job("a"), PODMAN) == 'script@v1 runs in the image "bash:5" with podman'
