"""The deployment files, read as Docker, Compose and Kubernetes would read them (none of them runs here): the
image installs exactly the hash-checked lock, compose and the manifests set only variables jitbot or boto3 read,
their probes answer on a real bot, and ``jitbot --version`` names the version and the commit."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from botocore import credentials
from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.cli import main, parser
from bot.settings import Settings
from core.policy import load_policies
from fakes.stack import Stack

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
LOCK = REPO / "requirements" / "runtime.lock"
BUILD_LOCK = REPO / "requirements" / "build.lock"
REPLICAS = ("jitbot-a", "jitbot-b")
#: the image's user (Dockerfile), which Kubernetes' runAsUser must name
UID = 10001
#: the port jitbot listens on unless PORT says otherwise (the image leaves it so)
DEFAULT_PORT: int = Settings.model_fields["port"].default


def settings_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def aws_names() -> set[str]:
    """Every variable boto3's session and default credential chain read."""
    names = {credentials.EnvProvider.ACCESS_KEY, credentials.EnvProvider.SECRET_KEY, *credentials.EnvProvider.TOKENS}
    for spec in BOTOCORE_DEFAUT_SESSION_VARIABLES.values():
        env = spec[1]
        names.update([env] if isinstance(env, str) else env or [])
    return names


# the lock and the image ------------------------------------------------------------------------------------------
def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes file."""
    text = path.read_text("utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)\s", line + " ")
        assert match, f"{path.name}: not pinned with ==: {line.strip()[:80]}"
        pins[canonicalize_name(match[1])] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return pins


def test_every_runtime_dependency_is_pinned_with_hashes() -> None:
    pins = locked(LOCK)
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["postgres"],
              *project["optional-dependencies"]["cedar"]]
    for spec in map(Requirement, wanted):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{name} (pyproject.toml) is missing from {LOCK.name}: run deploy/lock.sh"
        assert spec.specifier.contains(pins[name][0]), f"{name}=={pins[name][0]} breaks {spec}: run deploy/lock.sh"


def test_the_lock_is_closed_under_dependencies() -> None:
    """pip installs it with --no-deps, so every dependency of every locked package must be locked too (as read
    from the installed distributions of the same versions; the image's ``pip check`` is the final word)."""
    pins = locked(LOCK)
    env = {**default_environment(), "python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
    checked = 0
    for name, (pinned, _) in pins.items():
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        if dist.version != pinned:
            continue
        checked += 1
        for spec in map(Requirement, dist.requires or []):
            if spec.marker is None or spec.marker.evaluate({**env, "extra": ""}):
                assert canonicalize_name(spec.name) in pins, f"{name} needs {spec.name}, not in {LOCK.name}"
    assert checked >= len(pins) // 2, "too few locked packages installed here to check the lock"


def test_the_build_lock_covers_the_build_system() -> None:
    pins = locked(BUILD_LOCK)
    requires = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["build-system"]["requires"]
    for spec in map(Requirement, requires):
        name = canonicalize_name(spec.name)
        assert name in pins and pins[name][1] and spec.specifier.contains(pins[name][0]), spec


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text("utf-8"))
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_installs_the_lock_with_hashes_and_resolves_nothing() -> None:
    runs = [line for line in dockerfile() if line.startswith("RUN ")]
    installs = [cmd for line in runs for cmd in line[4:].split("&&") if re.search(r"\bpip install\b", cmd)]
    assert installs, "no pip install in the Dockerfile"
    for cmd in installs:
        assert "--no-deps" in cmd.split(), f"pip may resolve dependencies outside the lock: {cmd.strip()}"
    assert any({"--require-hashes", "-r", "requirements/runtime.lock"} <= set(c.split()) for c in installs)
    assert any({"--require-hashes", "-r", "requirements/build.lock"} <= set(c.split()) for c in installs)
    assert any("jitbot-*.whl" in c for c in installs), "jitbot itself must be installed from its wheel, --no-deps"
    assert any("pip check" in line for line in runs)
    assert any("--no-build-isolation" in line for line in runs), "the wheel must be built with the locked tools"


def test_the_image_runs_unprivileged_with_its_commit() -> None:
    lines = dockerfile()
    assert lines[-1] == 'CMD ["jitbot", "serve"]'
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] == str(UID)
    assert "ARG JITBOT_COMMIT=unknown" in lines
    assert "ENV JITBOT_COMMIT=${JITBOT_COMMIT}" in lines
    assert any('org.opencontainers.image.revision="${JITBOT_COMMIT}"' in line for line in lines)
    assert f"EXPOSE {DEFAULT_PORT}" in lines and re.search(rf"\bPORT={DEFAULT_PORT}\b", " ".join(lines))
    health = next(line for line in lines if line.startswith("HEALTHCHECK"))
    assert '"python"' in health and "curl" not in health
    for line in lines:  # every file COPY'd from the context exists and is not .dockerignore'd away
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    ignored = (REPO / ".dockerignore").read_text("utf-8").split()
    assert ".env" in ignored and ".git" in ignored
    assert not {"requirements", "bot", "core", "pyproject.toml"} & set(ignored)


def test_the_sbom_lists_exactly_the_locked_set() -> None:
    import json

    sbom = json.loads((REPO / "requirements" / "runtime.cdx.json").read_text("utf-8"))
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["metadata"]["component"]["name"] == "jitbot"
    listed = {canonicalize_name(c["name"]): c["version"] for c in sbom["components"]}
    assert listed == {name: pin for name, (pin, _) in locked(LOCK).items()}, "stale SBOM: run deploy/sbom.sh"


# compose ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))  # type: ignore[no-any-return]


def probe_url(test: list[str]) -> str:
    assert test[:3] == ["CMD", "python", "-c"], test
    match = re.search(r"'(http://[^']+)'", test[3])
    assert match, test
    return match[1]


def test_compose_replicas_are_healthy_only_when_ready(compose: dict[str, Any]) -> None:
    for name in REPLICAS:
        service = compose["services"][name]
        url = urlsplit(probe_url(service["healthcheck"]["test"]))
        assert (url.hostname, url.port, url.path, url.query) == ("127.0.0.1", DEFAULT_PORT, "/healthz", "ready=1")
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    upstreams = re.findall(r"^\s*server\s+([\w.-]+:\d+)", (REPO / "deploy" / "nginx.conf").read_text("utf-8"),
                           re.MULTILINE)
    assert set(upstreams) == {f"{name}:{DEFAULT_PORT}" for name in REPLICAS}


def test_compose_sets_only_what_jitbot_and_boto3_read(compose: dict[str, Any]) -> None:
    for name in REPLICAS:
        env = compose["services"][name]["environment"]
        assert set(env) <= settings_names() | aws_names(), set(env) - settings_names() - aws_names()
        for secret in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
            assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", env[secret]), f"{secret} must come from .env"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://jitbot:${POSTGRES_PASSWORD:?")
        assert urlsplit(re.sub(r"\$\{[^}]*\}", "password", env["DATABASE_URL"])).hostname == "postgres"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            assert env[key] is None, f"{key}: passed through only when set, never as an empty string"


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (source, options) of a service's short-syntax volumes."""
    found = {}
    for volume in service["volumes"]:
        match = re.fullmatch(r"((?:\$\{[^}]*\}|[^:$])+):([^:]+)(?::(.+))?", volume)
        assert match, volume
        found[match[2]] = (match[1], match[3] or "")
    return found


def test_compose_mounts_the_policy_folder_aws_and_the_database(compose: dict[str, Any]) -> None:
    for name in REPLICAS:
        service = compose["services"][name]
        volumes, env = mounts(service), service["environment"]
        policies = env["JIT_POLICIES"].replace("${JITBOT_POLICY_FILE:-policies.toml}", "policies.toml")
        folder = volumes[str(Path(policies).parent)]
        assert folder == ("${JITBOT_POLICY_DIR:-./deploy/policies}", "ro"), folder
        aws = volumes["/aws"]
        assert aws[1] == "ro" and env["AWS_CONFIG_FILE"].startswith("/aws/")
        assert env["AWS_SHARED_CREDENTIALS_FILE"].startswith("/aws/")
    postgres = compose["services"]["postgres"]
    assert mounts(postgres)["/var/lib/postgresql/data"][0] in compose["volumes"]
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_every_compose_variable_is_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (REPO / "docker-compose.yml").read_text("utf-8")))
    example = (REPO / ".env.example").read_text("utf-8")
    documented = set(re.findall(r"^#?([A-Z_][A-Z0-9_]*)=", example, re.MULTILINE))
    assert used - {"HOME"} <= documented, used - documented
    assert ".env" in (REPO / ".gitignore").read_text("utf-8").split()


def test_the_shipped_policy_folder_loads_with_its_cedar_file() -> None:
    policies = load_policies(str(REPO / "deploy" / "policies" / "policies.toml"))
    assert policies.settings.cedar_policies == "policies.cedar"
    assert policies.cedar is not None and policies.cedar.permits and policies.cedar.forbids


# Kubernetes ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kube() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text("utf-8")):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == "jitbot", path.name
    return objects


def container(kube: dict[tuple[str, str], dict[str, Any]], kind: str = "Deployment",
              name: str = "jitbot") -> dict[str, Any]:
    return kube[(kind, name)]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_kustomization_applies_every_manifest_but_the_migration_job() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text("utf-8"))
    manifests = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml", "db-upgrade-job.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)
    deployment = yaml.safe_load((KUBE / "deployment.yaml").read_text("utf-8"))
    container_image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert kustomization["images"][0]["name"] == container_image.rsplit(":", 1)[0]


def test_two_hardened_replicas(kube: dict[tuple[str, str], dict[str, Any]]) -> None:
    deployment = kube[("Deployment", "jitbot")]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for job_or_pod in (pod, kube[("Job", "jitbot-db-upgrade")]["spec"]["template"]["spec"]):
        box = job_or_pod["containers"][0]
        context = box["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(box["resources"]["requests"]) & set(box["resources"]["limits"])
        tmp = next(m for m in box["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in next(v for v in job_or_pod["volumes"] if v["name"] == tmp["name"])
    assert parser().parse_args(container(kube)["args"][1:]).command == "serve"
    job = container(kube, "Job", "jitbot-db-upgrade")["args"][1:]
    assert parser().parse_args(job).db_command == "upgrade"


def test_probes_ports_and_service_line_up(kube: dict[tuple[str, str], dict[str, Any]]) -> None:
    box = container(kube)
    port = next(p for p in box["ports"] if p["name"] == "http")
    env = {e["name"]: e for e in box["env"]}
    assert port["containerPort"] == int(env["PORT"]["value"]) == DEFAULT_PORT
    assert box["readinessProbe"]["httpGet"] == {"path": "/healthz?ready=1", "port": "http"}
    assert box["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert box["startupProbe"]["httpGet"]["path"] == "/healthz"
    service = kube[("Service", "jitbot")]["spec"]
    labels = kube[("Deployment", "jitbot")]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["ports"]] == ["http"]
    (rule,) = kube[("Ingress", "jitbot")]["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/slack/events" and path["backend"]["service"]["name"] == "jitbot"
    assert path["backend"]["service"]["port"]["name"] in {p["name"] for p in service["ports"]}
    budget = kube[("PodDisruptionBudget", "jitbot")]["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items() and budget["minAvailable"] == 1


def test_kubernetes_env_secrets_and_policies(kube: dict[tuple[str, str], dict[str, Any]]) -> None:
    box, pod = container(kube), kube[("Deployment", "jitbot")]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in box["env"]}
    assert set(env) <= settings_names() | aws_names(), set(env) - settings_names() - aws_names()
    for name, secret in (("SLACK_BOT_TOKEN", "jitbot-slack"), ("SLACK_SIGNING_SECRET", "jitbot-slack"),
                         ("DATABASE_URL", "jitbot-database")):
        assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"] == secret
    mount = next(m for m in box["volumeMounts"] if m["mountPath"] == str(Path(env["JIT_POLICIES"]["value"]).parent))
    assert mount["readOnly"] is True and "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    data = kube[("ConfigMap", volume["configMap"]["name"])]["data"]
    assert Path(env["JIT_POLICIES"]["value"]).name in data
    for name, text in data.items():  # the ConfigMap is deploy/policies/, which loads (test above)
        assert text == (REPO / "deploy" / "policies" / name).read_text("utf-8"), f"{name}: regenerate configmap.yaml"
    account = kube[("ServiceAccount", pod["serviceAccountName"])]
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/.+", role)


def test_checkov_skips_are_explained(kube: dict[tuple[str, str], dict[str, Any]]) -> None:
    skips = [value for obj in kube.values() for key, value in obj["metadata"].get("annotations", {}).items()
             if key.startswith("checkov.io/skip")]
    skips += re.findall(r"checkov:skip=(.+)", (REPO / "Dockerfile").read_text("utf-8"))
    assert skips
    for skip in skips:
        check, _, reason = skip.partition("=") if "=" in skip else skip.partition(":")
        assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check.split(":")[0]) and len(reason) > 20, skip


# the probes against a real bot, with the shipped policy folder ---------------------------------------------------
def test_the_probes_answer_on_a_running_bot(stack_factory: Any, tmp_path: Path,
                                            kube: dict[tuple[str, str], dict[str, Any]],
                                            compose: dict[str, Any]) -> None:
    (tmp_path / "policies.cedar").write_text((REPO / "deploy/policies/policies.cedar").read_text("utf-8"))
    stack: Stack = stack_factory(policies=(REPO / "deploy/policies/policies.toml").read_text("utf-8"))
    box = container(kube)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        url = f"{stack.app_url}{box[probe]['httpGet']['path']}"
        assert subprocess.run([sys.executable, "-c", f"import urllib.request; urllib.request.urlopen({url!r})"],
                              check=False, timeout=30).returncode == 0, probe
    def healthcheck() -> int:
        code = compose["services"]["jitbot-a"]["healthcheck"]["test"][3]
        code = code.replace(f"127.0.0.1:{DEFAULT_PORT}", stack.app_url.removeprefix("http://"))
        return subprocess.run([sys.executable, "-c", code], check=False, timeout=30).returncode

    assert healthcheck() == 0
    stack.shutdown_bot()  # alive but not ready (Slack refused its token): compose's healthcheck fails
    stack.slack.fail_next("auth.test", error="invalid_auth", status=200)
    stack.boot()
    assert healthcheck() != 0


# jitbot --version ------------------------------------------------------------------------------------------------
def test_version_prints_the_baked_commit(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITBOT_COMMIT", "0123456789abcdef")
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"jitbot {installed_version('jitbot')} (commit 0123456789abcdef)\n"


def test_version_reads_the_checkout_without_a_baked_commit(tmp_path: Path) -> None:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=False)
    if head.returncode != 0:
        pytest.skip("not run from a git checkout")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "bot.cli", "--version"], capture_output=True, text=True,
                         check=True, env=env, cwd=REPO, timeout=60).stdout
    assert out == f"jitbot {installed_version('jitbot')} (commit {head.stdout.strip()})\n"
