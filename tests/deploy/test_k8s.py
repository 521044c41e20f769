"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

deploy/k8s/render.py builds the base and each overlay. Every object must pass
kubernetes-validate's strict schemas for Kubernetes 1.32, which it ships offline (the
CloudNativePG ``Cluster`` is a custom resource it has no schema for: its fields are
checked by hand in ``test_gke_runs_postgresql_as_a_cloudnativepg_cluster``). Where
kubectl is installed, its kustomize must build the same objects. And the objects must
hold what the deployment needs: replicas, probes, resources, restricted pods, the
init container that migrates, the database each overlay runs and how the API finds it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from docmemo.config import Settings
from docmemo.web.reads import COALESCED_READ_CONNECTIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
TARGETS = {
    "base": K8S / "base",
    "minikube": K8S / "overlays" / "minikube",
    "gke": K8S / "overlays" / "gke",
}
# kubernetes-validate 1.37.0 ships the schemas of Kubernetes 1.28 to 1.37; 1.32 is a
# version current GKE and minikube run, and it has the preStop `sleep` action (1.30+).
KUBERNETES_VERSION = "1.32"
KUBECTL = shutil.which("kubectl")

# The environment variables the app reads: DATABASE_URL and DOCMEMO_<setting>.
APP_VARIABLES = Settings.environment_variables()
# Read by nobody but Kubernetes, which spells it into DATABASE_URL (base, minikube).
HELPER_VARIABLES = {"POSTGRES_PASSWORD"}
API_PORT = 2024
API_UID = 10001
# Secrets the gke overlay uses but does not hold: created by hand (README) and by
# the CloudNativePG operator.
GKE_EXTERNAL_SECRETS = {
    "docmemo-secrets": {"DOCMEMO_SECRET_KEY", "DOCMEMO_DEMO_PASSWORD"},
    "docmemo-db-app": {"uri"},
}


def _load_renderer():
    spec = importlib.util.spec_from_file_location("docmemo_k8s_render", K8S / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


renderer = _load_renderer()


@cache
def _rendered(target: str) -> str:
    return json.dumps(renderer.render(TARGETS[target]))


def rendered(target: str) -> list[dict[str, Any]]:
    """The objects of a target (a fresh copy: tests may not change each other's)."""
    return json.loads(_rendered(target))


def by_id(documents) -> dict[str, dict]:
    """Objects by kind/namespace/name: compares two builds whatever their order."""
    objects = {}
    for document in documents:
        if document:
            metadata = document["metadata"]
            key = f"{document['kind']}/{metadata.get('namespace', '')}/{metadata['name']}"
            assert key not in objects, f"{key} twice"
            objects[key] = document
    return objects


def find(documents: list[dict], kind: str) -> list[dict]:
    return [document for document in documents if document["kind"] == kind]


def one(documents: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in find(documents, kind) if d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{len(matches)} {kind} named {name}"
    return matches[0]


def api_pod(documents: list[dict]) -> dict:
    return one(documents, "Deployment", "docmemo-api")["spec"]["template"]["spec"]


def containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def container(pod: dict, name: str) -> dict:
    matches = [c for c in containers(pod) if c["name"] == name]
    assert len(matches) == 1, f"{len(matches)} containers named {name}"
    return matches[0]


def env(a_container: dict) -> dict[str, dict]:
    return {variable["name"]: variable for variable in a_container.get("env", [])}


def pod_templates(documents: list[dict]) -> dict[str, dict]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]
        for d in documents
        if d["kind"] in ("Deployment", "StatefulSet")
    }


def config(documents: list[dict]) -> dict[str, str]:
    return one(documents, "ConfigMap", "docmemo-config")["data"]


def port_number(a_container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in a_container.get("ports", []) if p.get("name") == port]
    assert named, f"no port named {port} in {a_container['name']}"
    return named[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def is_cnpg_cluster(document: dict) -> bool:
    return document["apiVersion"] == "postgresql.cnpg.io/v1" and document["kind"] == "Cluster"


# --- Valid Kubernetes objects -------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_every_object_passes_the_strict_kubernetes_schemas(target):
    documents = rendered(target)
    assert documents
    failures = []
    for document in documents:
        if is_cnpg_cluster(document):
            continue  # no schema for this custom resource: see the gke Cluster test
        name = f"{document['kind']}/{document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            failures.append(f"{name}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            failures.append(f"{name}: {error.message}")
    assert failures == []


def test_strict_validation_refuses_a_misspelt_field_and_a_wrong_type():
    deployment = one(rendered("base"), "Deployment", "docmemo-api")
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    for document in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_the_ci_command_renders_and_validates(target):
    """README: `python deploy/k8s/render.py DIR | kubernetes-validate --strict -k 1.32 -`."""
    render = subprocess.run(
        [sys.executable, str(K8S / "render.py"), str(TARGETS[target])],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert [d for d in yaml.safe_load_all(render.stdout) if d] == rendered(target)
    validator = Path(sys.executable).parent / "kubernetes-validate"
    check = subprocess.run(
        [str(validator), "--strict", "-k", KUBERNETES_VERSION, "--quiet", "-"],
        input=render.stdout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ERROR" not in check.stdout


@pytest.mark.skipif(
    KUBECTL is None,
    reason="kubectl is not installed, so render.py is not compared with kubectl kustomize "
    "(the schema and content tests still run on render.py's output)",
)
@pytest.mark.parametrize("target", TARGETS)
def test_kubectl_kustomize_builds_the_same_objects(target):
    assert KUBECTL is not None
    built = subprocess.run(
        [KUBECTL, "kustomize", str(TARGETS[target])],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert by_id(yaml.safe_load_all(built.stdout)) == by_id(rendered(target))


# --- render.py implements its subset as kubectl does, and refuses the rest ---------


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


SAMPLE_BASE = {
    "kustomization.yaml": "namespace: ns\nresources: [app.yaml]\n",
    "app.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
        - name: app
          image: app:1.0
          env:
            - {name: PASSWORD, valueFrom: {secretKeyRef: {name: s, key: p}}}
            - {name: URL, value: "db://u:$(PASSWORD)@db"}
            - {name: MODE, value: a}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, ports: [{port: 5432}]}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: example.com/disk
""",
}
SAMPLE_OVERLAY = {
    "kustomization.yaml": """
namespace: ns
resources: [../base]
images: [{name: app, newName: registry.example/app, newTag: "2.0"}]
patches: [{path: deployment.yaml}, {path: delete-db.yaml}]
""",
    "deployment.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: null
  template:
    spec:
      containers:
        - name: app
          env:
            - {name: EXTRA, value: x}
            - {name: PASSWORD, $patch: delete}
            - {name: URL, value: null, valueFrom: {secretKeyRef: {name: db-app, key: uri}}}
""",
    "delete-db.yaml": "$patch: delete\napiVersion: v1\nkind: Service\nmetadata: {name: db}\n",
}
SAMPLE_EXPECTED = [
    {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "fast"},
        "provisioner": "example.com/disk",
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "ns"},
        "spec": {
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/app:2.0",
                            # The patch's items first, then the untouched ones.
                            "env": [
                                {"name": "EXTRA", "value": "x"},
                                {
                                    "name": "URL",
                                    "valueFrom": {"secretKeyRef": {"name": "db-app", "key": "uri"}},
                                },
                                {"name": "MODE", "value": "a"},
                            ],
                        }
                    ]
                },
            },
        },
    },
]


def test_render_merges_patches_as_kubectl_does(tmp_path):
    _write(tmp_path / "base", SAMPLE_BASE)
    overlay = _write(tmp_path / "overlay", SAMPLE_OVERLAY)
    assert renderer.render(overlay) == SAMPLE_EXPECTED
    if KUBECTL is not None:
        built = subprocess.run(
            [KUBECTL, "kustomize", str(overlay)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert [d for d in yaml.safe_load_all(built.stdout) if d] == SAMPLE_EXPECTED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kustomization.yaml": "resources: [app.yaml]\ncommonLabels: {a: b}\n"}, "commonLabels"),
        (
            {
                "kustomization.yaml": (
                    "resources: [app.yaml]\npatches: [{path: p.yaml, target: {kind: Deployment}}]\n"
                ),
                "p.yaml": "{}\n",
            },
            "only patches given by path",
        ),
        (
            {
                "kustomization.yaml": "resources: [app.yaml]\npatches: [{path: p.yaml}]\n",
                "p.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: nowhere}\n",
            },
            "matches 0 resources",
        ),
        (
            {
                "kustomization.yaml": "resources: [app.yaml]\npatches: [{path: p.yaml}]\n",
                "p.yaml": (
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\n"
                    "spec: {template: {spec: {containers: [{name: app, $patch: replace}]}}}\n"
                ),
            },
            r"unsupported \$patch",
        ),
        ({"kustomization.yaml": "resources: [app.yaml, app.yaml]\n"}, "defined twice"),
    ],
)
def test_render_refuses_what_it_does_not_implement(tmp_path, change, message):
    directory = _write(tmp_path, {**SAMPLE_BASE, **change})
    with pytest.raises(renderer.RenderError, match=message):
        renderer.render(directory)


def test_render_command_reports_errors_without_a_traceback(tmp_path, capsys):
    assert renderer.main([str(tmp_path)]) == 1
    assert "no kustomization.yaml" in capsys.readouterr().err


# --- What every target needs ----------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_everything_lives_in_the_docmemo_namespace_under_restricted_pod_security(target):
    documents = rendered(target)
    namespace = one(documents, "Namespace", "docmemo")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for document in documents:
        metadata = document["metadata"]
        if document["kind"] in ("Namespace", "StorageClass"):
            assert "namespace" not in metadata
        else:
            assert metadata.get("namespace") == "docmemo", document["kind"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_api_runs_at_least_two_replicas(target):
    documents = rendered(target)
    deployment = one(documents, "Deployment", "docmemo-api")
    if target == "gke":
        # The autoscaler owns the count; re-applying must not reset it.
        assert "replicas" not in deployment["spec"]
        assert one(documents, "HorizontalPodAutoscaler", "docmemo-api")["spec"]["minReplicas"] >= 2
    else:
        assert deployment["spec"]["replicas"] >= 2
    # A rollout never goes below the running count.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = one(documents, "PodDisruptionBudget", "docmemo-api")
    assert budget["spec"]["minAvailable"] >= 1


@pytest.mark.parametrize("target", TARGETS)
def test_the_api_probes_the_health_endpoints_on_port_2024(target):
    api = container(api_pod(rendered(target)), "api")
    expected = {
        "readinessProbe": "/health/ready",
        "livenessProbe": "/health/live",
        "startupProbe": "/health/live",
    }
    for probe, path in expected.items():
        http = api[probe]["httpGet"]
        assert http["path"] == path, probe
        assert port_number(api, http["port"]) == API_PORT, probe
    startup = api["startupProbe"]
    # The first start seeds 10,000 users before it listens: at least a minute allowed.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


@pytest.mark.parametrize("target", TARGETS)
def test_every_container_requests_and_limits_cpu_and_memory(target):
    templates = pod_templates(rendered(target))
    assert "Deployment/docmemo-api" in templates
    for workload, template in templates.items():
        for a_container in containers(template["spec"]):
            resources = a_container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resource in resources.get(bound, {}), (
                        f"{workload} {a_container['name']}: no {bound}.{resource}"
                    )


@pytest.mark.parametrize("target", TARGETS)
def test_every_pod_runs_restricted(target):
    templates = pod_templates(rendered(target))
    for workload, template in templates.items():
        pod = template["spec"]
        assert pod["automountServiceAccountToken"] is False, workload
        assert pod["terminationGracePeriodSeconds"] >= 10, workload
        for a_container in containers(pod):
            effective = {**pod.get("securityContext", {}), **a_container["securityContext"]}
            where = f"{workload} {a_container['name']}"
            assert effective["runAsNonRoot"] is True, where
            assert effective["runAsUser"] != 0, where
            assert effective["allowPrivilegeEscalation"] is False, where
            assert effective["readOnlyRootFilesystem"] is True, where
            assert effective["capabilities"] == {"drop": ["ALL"]}, where
            assert effective["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert not effective.get("privileged"), where


@pytest.mark.parametrize("target", TARGETS)
def test_the_api_runs_as_uid_10001_writing_only_to_a_tmp_emptydir(target):
    pod = api_pod(rendered(target))
    emptydirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    for a_container in containers(pod):
        effective = {**pod["securityContext"], **a_container["securityContext"]}
        assert effective["runAsUser"] == API_UID
        assert effective["runAsGroup"] == API_UID
        mounts = {m["mountPath"]: m["name"] for m in a_container["volumeMounts"]}
        assert set(mounts) == {"/tmp"}, a_container["name"]
        assert mounts["/tmp"] in emptydirs


@pytest.mark.parametrize("target", TARGETS)
def test_an_init_container_migrates_before_the_api_starts(target):
    pod = api_pod(rendered(target))
    [migrate] = pod["initContainers"]
    api = container(pod, "api")
    # The image's entrypoint is the docmemo command: args pick the subcommand.
    assert migrate["args"] == ["migrate"]
    assert api["args"] == ["serve"]
    assert "command" not in migrate
    assert "command" not in api
    assert migrate["image"] == api["image"]
    assert env(api)["DOCMEMO_MIGRATE_ON_START"] == {
        "name": "DOCMEMO_MIGRATE_ON_START",
        "value": "false",
    }
    # The same settings and the same database as the API.
    assert migrate["envFrom"] == api["envFrom"]
    assert env(migrate)["DATABASE_URL"] == env(api)["DATABASE_URL"]
    assert env(migrate)["DOCMEMO_SECRET_KEY"] == env(api)["DOCMEMO_SECRET_KEY"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_api_service_publishes_port_2024(target):
    documents = rendered(target)
    expected_type = {"base": "ClusterIP", "minikube": "NodePort", "gke": "LoadBalancer"}
    service = one(documents, "Service", "docmemo-api")
    deployment = one(documents, "Deployment", "docmemo-api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    api = container(deployment["spec"]["template"]["spec"], "api")
    assert service["spec"]["type"] == expected_type[target]
    [port] = service["spec"]["ports"]
    assert port["port"] == API_PORT
    assert port_number(api, port["targetPort"]) == API_PORT
    assert selects(service["spec"]["selector"], labels)
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    budget = one(documents, "PodDisruptionBudget", "docmemo-api")
    assert selects(budget["spec"]["selector"]["matchLabels"], labels)
    assert config(documents)["DOCMEMO_PORT"] == str(API_PORT)


@pytest.mark.parametrize("target", TARGETS)
def test_the_settings_are_names_the_app_reads(target):
    documents = rendered(target)
    settings = config(documents)
    assert set(settings) <= APP_VARIABLES
    # Minikube is a throw-away cluster whose committed placeholder secrets production
    # would refuse; everywhere else the API runs in production mode.
    expected_environment = "development" if target == "minikube" else "production"
    assert settings["DOCMEMO_ENVIRONMENT"] == expected_environment
    for name in ("DOCMEMO_WORKERS", "DOCMEMO_DB_WAIT_S", "DOCMEMO_SEED_USERS"):
        assert int(settings[name]) > 0, name
    for a_container in containers(api_pod(documents)):
        assert set(env(a_container)) <= APP_VARIABLES | HELPER_VARIABLES, a_container["name"]
        assert [ref["configMapRef"]["name"] for ref in a_container["envFrom"]] == ["docmemo-config"]


@pytest.mark.parametrize("target", TARGETS)
def test_secrets_come_from_secrets(target):
    documents = rendered(target)
    assert not [name for name in config(documents) if "SECRET" in name or "PASSWORD" in name]
    api = container(api_pod(documents), "api")
    for name in ("DOCMEMO_SECRET_KEY", "DOCMEMO_DEMO_PASSWORD"):
        assert env(api)[name]["valueFrom"]["secretKeyRef"] == {
            "name": "docmemo-secrets",
            "key": name,
        }


@pytest.mark.parametrize("target", TARGETS)
def test_every_secret_and_configmap_reference_resolves(target):
    documents = rendered(target)
    available: dict[tuple[str, str], set[str]] = {}
    for secret in find(documents, "Secret"):
        keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
        available["Secret", secret["metadata"]["name"]] = keys
    for config_map in find(documents, "ConfigMap"):
        available["ConfigMap", config_map["metadata"]["name"]] = set(config_map["data"])
    if target == "gke":
        for name, keys in GKE_EXTERNAL_SECRETS.items():
            assert ("Secret", name) not in available
            available["Secret", name] = keys
    for workload, template in pod_templates(documents).items():
        for a_container in containers(template["spec"]):
            for source in a_container.get("envFrom", []):
                for kind, ref in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    if ref in source:
                        name = source[ref]["name"]
                        assert (kind, name) in available, f"{workload}: {kind} {name}"
            for variable in a_container.get("env", []):
                value_from = variable.get("valueFrom", {})
                for kind, ref in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if ref in value_from:
                        name, key = value_from[ref]["name"], value_from[ref]["key"]
                        where = f"{workload} {variable['name']}: {kind} {name}/{key}"
                        assert key in available.get((kind, name), set()), where


def test_the_committed_secret_holds_only_placeholders():
    [secret] = find(rendered("base"), "Secret")
    values = secret["stringData"]
    assert set(values) == {"DOCMEMO_SECRET_KEY", "DOCMEMO_DEMO_PASSWORD", "POSTGRES_PASSWORD"}
    assert set(values.values()) == {"CHANGE-ME"}
    assert "data" not in secret


@pytest.mark.parametrize("target", TARGETS)
def test_postgresql_accepts_every_api_connection(target):
    """Pods x workers x connections per worker (a fixed pool, and one connection for
    each coalesced read) stays under max_connections."""
    documents = rendered(target)
    settings = config(documents)
    per_worker = int(settings["DOCMEMO_DB_POOL_SIZE"]) + COALESCED_READ_CONNECTIONS
    per_pod = int(settings["DOCMEMO_WORKERS"]) * per_worker
    deployment = one(documents, "Deployment", "docmemo-api")
    if target == "gke":
        pods = one(documents, "HorizontalPodAutoscaler", "docmemo-api")["spec"]["maxReplicas"]
        cluster = one(documents, "Cluster", "docmemo-db")
        max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    else:
        pods = deployment["spec"]["replicas"]
        max_connections = 100  # PostgreSQL's default
    pods += deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    # Keep room for the init containers, psql sessions and (gke) the operator.
    assert pods * per_pod + 20 <= max_connections


# --- PostgreSQL in base and minikube: a StatefulSet -----------------------------------


@pytest.mark.parametrize("target", ["base", "minikube"])
def test_postgresql_is_a_statefulset_with_a_volume_and_a_headless_service(target):
    documents = rendered(target)
    statefulset = one(documents, "StatefulSet", "docmemo-db")
    service = one(documents, "Service", statefulset["spec"]["serviceName"])
    template = statefulset["spec"]["template"]
    assert service["metadata"]["name"] == "docmemo-db"
    assert service["spec"]["clusterIP"] == "None"
    assert selects(service["spec"]["selector"], template["metadata"]["labels"])
    assert selects(statefulset["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])
    [postgres] = template["spec"]["containers"]
    assert re.fullmatch(r"postgres:\d+\.\d+(-\w+)?", postgres["image"]), "a pinned tag"
    [port] = service["spec"]["ports"]
    assert port["port"] == 5432
    assert port_number(postgres, port["targetPort"]) == 5432
    claims = {
        claim["metadata"]["name"]: claim for claim in statefulset["spec"]["volumeClaimTemplates"]
    }
    data = env(postgres)["PGDATA"]["value"]
    [mount] = [m for m in postgres["volumeMounts"] if data.startswith(m["mountPath"] + "/")]
    assert mount["name"] in claims
    assert claims[mount["name"]]["spec"]["resources"]["requests"]["storage"]
    assert postgres["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert "--locale=C.UTF-8" in env(postgres)["POSTGRES_INITDB_ARGS"]["value"]


@pytest.mark.parametrize("target", ["base", "minikube"])
def test_database_url_names_the_statefulset_and_its_secret_password(target):
    documents = rendered(target)
    postgres = one(documents, "StatefulSet", "docmemo-db")["spec"]["template"]["spec"]
    database = env(postgres["containers"][0])
    service = one(documents, "Service", "docmemo-db")
    for a_container in containers(api_pod(documents)):
        variables = env(a_container)
        url = variables["DATABASE_URL"]["value"]
        match = re.fullmatch(
            r"postgresql://(\w+):\$\(POSTGRES_PASSWORD\)@([\w-]+):(\d+)/(\w+)", url
        )
        assert match, url
        user, host, port, name = match.groups()
        assert user == database["POSTGRES_USER"]["value"]
        assert name == database["POSTGRES_DB"]["value"]
        assert host == service["metadata"]["name"]
        assert int(port) == service["spec"]["ports"][0]["port"]
        assert (
            variables["POSTGRES_PASSWORD"]["valueFrom"]
            == database["POSTGRES_PASSWORD"]["valueFrom"]
        )
        # $(NAME) expands only from variables defined above it.
        names = [variable["name"] for variable in a_container["env"]]
        assert names.index("POSTGRES_PASSWORD") < names.index("DATABASE_URL")


# --- Overlays -----------------------------------------------------------------------


def test_minikube_runs_the_image_built_inside_minikube_over_plain_http():
    documents = rendered("minikube")
    for a_container in containers(api_pod(documents)):
        assert a_container["image"] == "docmemo:dev"
        assert a_container["imagePullPolicy"] == "Never"
    assert config(documents)["DOCMEMO_COOKIE_SECURE"] == "false"


@pytest.mark.parametrize("target", ["base", "gke"])
def test_cookies_stay_secure_outside_minikube(target):
    assert config(rendered(target)).get("DOCMEMO_COOKIE_SECURE", "true") == "true"


def test_gke_pulls_the_api_from_artifact_registry():
    for a_container in containers(api_pod(rendered("gke"))):
        assert re.fullmatch(
            r"[\w-]+-docker\.pkg\.dev/[\w-]+/[\w-]+/docmemo:[\w.-]+", a_container["image"]
        )
        assert a_container["imagePullPolicy"] != "Never"


def test_gke_stores_postgresql_on_balanced_persistent_disks():
    [storage_class] = find(rendered("gke"), "StorageClass")
    assert storage_class["provisioner"] == "pd.csi.storage.gke.io"
    assert storage_class["parameters"] == {"type": "pd-balanced"}
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["allowVolumeExpansion"] is True
    assert storage_class["reclaimPolicy"] == "Retain"


def test_gke_autoscales_the_api_on_cpu():
    documents = rendered("gke")
    autoscaler = one(documents, "HorizontalPodAutoscaler", "docmemo-api")
    spec = autoscaler["spec"]
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "docmemo-api",
    }
    assert 2 <= spec["minReplicas"] < spec["maxReplicas"]
    [metric] = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 90
    # Utilization is relative to the request, so every container needs one.
    for a_container in api_pod(documents)["containers"]:
        assert a_container["resources"]["requests"]["cpu"]


# CloudNativePG's Cluster fields (postgresql.cnpg.io/v1) this overlay may use: no
# schema is available offline, so a misspelt field would otherwise pass unnoticed.
CNPG_SPEC_FIELDS = {
    "instances", "imageName", "primaryUpdateStrategy", "primaryUpdateMethod", "bootstrap",
    "postgresql", "storage", "walStorage", "affinity", "resources", "monitoring", "backup",
    "enableSuperuserAccess", "enablePDB", "description", "minSyncReplicas", "maxSyncReplicas",
    "topologySpreadConstraints", "priorityClassName", "startDelay", "stopDelay",
    "switchoverDelay", "failoverDelay", "smartShutdownTimeout", "logLevel", "managed",
}  # fmt: skip
CNPG_INITDB_FIELDS = {
    "database", "owner", "secret", "encoding", "locale", "localeCollate", "localeCType",
    "localeProvider", "dataChecksums", "postInitSQL", "postInitApplicationSQL",
}  # fmt: skip
CNPG_STORAGE_FIELDS = {"storageClass", "size", "resizeInUseVolumes", "pvcTemplate"}
CNPG_AFFINITY_FIELDS = {
    "enablePodAntiAffinity", "topologyKey", "podAntiAffinityType", "nodeSelector",
    "tolerations", "nodeAffinity", "additionalPodAntiAffinity", "additionalPodAffinity",
}  # fmt: skip


def test_gke_runs_postgresql_as_a_cloudnativepg_cluster():
    documents = rendered("gke")
    # The base's StatefulSet and headless Service are gone.
    assert find(documents, "StatefulSet") == []
    assert [s for s in find(documents, "Service") if s["metadata"]["name"] == "docmemo-db"] == []
    assert [s for s in find(documents, "Service") if s["spec"].get("clusterIP") == "None"] == []
    # kubernetes-validate has no schema for this custom resource: checked by hand.
    [cluster] = [d for d in documents if is_cnpg_cluster(d)]
    spec = cluster["spec"]
    assert set(spec) <= CNPG_SPEC_FIELDS
    assert spec["instances"] == 3
    assert spec["primaryUpdateStrategy"] in ("unsupervised", "supervised")
    assert re.fullmatch(r"ghcr\.io/cloudnative-pg/postgresql:\d+\.\d+(-\w+)*", spec["imageName"])
    initdb = spec["bootstrap"]["initdb"]
    assert set(spec["bootstrap"]) == {"initdb"}
    assert set(initdb) <= CNPG_INITDB_FIELDS
    assert (initdb["database"], initdb["owner"]) == ("docmemo", "docmemo")
    assert "UTF-8" in initdb["localeCType"]
    [storage_class] = find(documents, "StorageClass")
    assert set(spec["storage"]) <= CNPG_STORAGE_FIELDS
    assert spec["storage"]["storageClass"] == storage_class["metadata"]["name"]
    assert re.fullmatch(r"\d+Gi", spec["storage"]["size"])
    assert set(spec["affinity"]) <= CNPG_AFFINITY_FIELDS
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["affinity"]["podAntiAffinityType"] in ("preferred", "required")
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][bound])
    assert all(isinstance(v, str) for v in spec["postgresql"]["parameters"].values())


def test_gke_takes_database_url_from_the_cloudnativepg_app_secret():
    documents = rendered("gke")
    [cluster] = [d for d in documents if is_cnpg_cluster(d)]
    # The operator's secret <cluster>-app: its uri names the <cluster>-rw service.
    app_secret = {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}
    for a_container in containers(api_pod(documents)):
        variables = env(a_container)
        assert variables["DATABASE_URL"] == {
            "name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": app_secret},
        }
        assert "POSTGRES_PASSWORD" not in variables


def test_gke_leaves_the_secret_to_be_created_with_real_values():
    assert find(rendered("gke"), "Secret") == []


# --- README ------------------------------------------------------------------------


def test_the_readme_names_paths_that_exist_and_the_secret_keys_gke_needs():
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"deploy/k8s/[\w./-]*[\w/]", readme))
    assert paths
    for path in paths:
        assert (REPO_ROOT / path).exists(), path
    commands = re.findall(r"create secret generic docmemo-secrets((?:[^\n]*\\\n)*[^\n]*)", readme)
    assert len(commands) == 1, "one command creates the gke secret"
    keys = set(re.findall(r"--from-literal=(\w+)=", commands[0]))
    assert keys == GKE_EXTERNAL_SECRETS["docmemo-secrets"]
