"""kuberay/ after kustomize rendering, checked against the real schemas: the KubeRay CRDs
(../shared/kuberay-crds/, or VISIONTRAIN_KUBERAY_CRDS) for ray.io/v1 kinds, Kubernetes' own
(kubernetes-validate) for the rest, and Ray Serve's for the RayService's serveConfigV2. Then
what must agree does: cluster.yaml with the RayCluster, the RayJob's cluster with the RayCluster,
the API's idea of the node types with both, the image with the Ray we pin."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBERAY = os.path.join(ROOT, "kuberay")
RENDERINGS = ["base", "overlays/small", "overlays/gpu-heavy", "user-namespace"]
# The CRDs are test data kept outside the repository: beside the checkout, or where this machine
# keeps the shared folder, or wherever VISIONTRAIN_KUBERAY_CRDS says.
CRD_PLACES = [os.environ.get("VISIONTRAIN_KUBERAY_CRDS", ""), os.path.join(ROOT, "..", "shared", "kuberay-crds"),
              "/work/shared/kuberay-crds"]
CRDS = next((p for p in CRD_PLACES if p and os.path.isdir(p)), CRD_PLACES[1])


def render(path: str) -> list[dict]:
    tool = shutil.which("kustomize") or shutil.which("kubectl")
    assert tool, "rendering kuberay/ needs kustomize or kubectl (which has kustomize built in) on PATH"
    cmd = [tool, "build"] if tool.endswith("kustomize") else [tool, "kustomize"]
    out = subprocess.run(cmd + [os.path.join(KUBERAY, path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _strict(schema):
    """An object schema with listed properties admits no others, as the API server's field
    validation does (unknown fields are an error with kubectl's strict validation)."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _crd_schemas() -> dict[str, dict]:
    assert os.path.isdir(CRDS), (f"cannot validate ray.io kinds: no KubeRay CRDs in {CRD_PLACES[1:]}; set "
                                 "VISIONTRAIN_KUBERAY_CRDS to a folder with ray.io_rayclusters.yaml and the others "
                                 "(helm-chart/kuberay-operator/crds/ of a KubeRay release)")
    schemas = {}
    for name in os.listdir(CRDS):
        if name.endswith(".yaml"):
            with open(os.path.join(CRDS, name)) as f:
                crd = yaml.safe_load(f)
            for version in crd["spec"]["versions"]:
                key = f"{crd['spec']['group']}/{version['name']}/{crd['spec']['names']['kind']}"
                schemas[key] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


@pytest.fixture(scope="module")
def crd_schemas():
    return _crd_schemas()


def validation_errors(doc: dict, crd_schemas: dict) -> list[str]:
    if doc["apiVersion"].startswith("ray.io/"):
        schema = crd_schemas[f"{doc['apiVersion']}/{doc['kind']}"]
        return [f"{doc['kind']} {'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{doc['kind']} {'.'.join(map(str, e.path))}: {e.message}"]
    return []


@pytest.mark.parametrize("path", RENDERINGS)
def test_every_manifest_is_valid(path, crd_schemas):
    docs = render(path)
    errors = [err for doc in docs for err in validation_errors(doc, crd_schemas)]
    assert errors == []
    kinds = {d["kind"] for d in docs}
    expected = ({"Namespace", "ResourceQuota", "LimitRange"} if path == "user-namespace"
                else {"RayCluster", "RayService", "RayJob", "NetworkPolicy"})
    assert kinds == expected


def test_validation_catches_mistakes(crd_schemas):
    """The checks above can fail: a misspelt field, a wrong type and an unknown enum value."""
    cluster = next(d for d in render("base") if d["kind"] == "RayCluster")
    typo = copy.deepcopy(cluster)
    typo["spec"]["workerGroupSpecs"][0]["maxReplica"] = typo["spec"]["workerGroupSpecs"][0].pop("maxReplicas")
    assert any("maxReplica" in e for e in validation_errors(typo, crd_schemas))
    wrong = copy.deepcopy(cluster)
    wrong["spec"]["autoscalerOptions"]["idleTimeoutSeconds"] = "five minutes"
    assert any("idleTimeoutSeconds" in e for e in validation_errors(wrong, crd_schemas))
    wrong["spec"]["authOptions"]["mode"] = "password"
    assert any("authOptions.mode" in e for e in validation_errors(wrong, crd_schemas))
    policy = next(d for d in render("base") if d["kind"] == "NetworkPolicy")
    policy["spec"]["policyTypes"] = "Ingress"
    assert validation_errors(policy, crd_schemas)


def _groups(cluster_spec: dict) -> dict[str, dict]:
    """What a worker group gives Ray and the autoscaler, read from the RayCluster; the pod's
    limits must say the same as rayStartParams."""
    groups = {}
    for g in cluster_spec["workerGroupSpecs"]:
        params, limits = g["rayStartParams"], g["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert float(params["num-cpus"]) == float(limits["cpu"]), g["groupName"]
        assert float(params.get("num-gpus", 0)) == float(limits.get("nvidia.com/gpu", 0)), g["groupName"]
        groups[g["groupName"]] = {"CPU": float(params["num-cpus"]), "GPU": float(params.get("num-gpus", 0)),
                                  "object_store_memory": int(params["object-store-memory"]),
                                  "min_workers": g["minReplicas"], "max_workers": g["maxReplicas"]}
    return groups


def test_cluster_yaml_declares_the_raycluster_worker_groups():
    cluster = next(d for d in render("base") if d["kind"] == "RayCluster")
    with open(os.path.join(ROOT, "cluster.yaml")) as f:
        local = yaml.safe_load(f)
    types = local["available_node_types"]
    head = types.pop(local["head_node_type"])
    assert head["resources"].get("CPU", 0) == float(cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"])
    declared = {name: {"CPU": float(t["resources"]["CPU"]), "GPU": float(t["resources"].get("GPU", 0)),
                       "object_store_memory": t["resources"]["object_store_memory"],
                       "min_workers": t["min_workers"], "max_workers": t["max_workers"]} for name, t in types.items()}
    assert declared == _groups(cluster["spec"])
    assert local["idle_timeout_minutes"] * 60 == cluster["spec"]["autoscalerOptions"]["idleTimeoutSeconds"]
    assert local["max_workers"] == sum(g["maxReplicas"] for g in cluster["spec"]["workerGroupSpecs"])


@pytest.mark.parametrize("path", RENDERINGS[:3])
def test_rayjob_and_api_agree_with_the_training_cluster(path):
    docs = {d["kind"]: d for d in render(path)}
    cluster, service, job = docs["RayCluster"], docs["RayService"], docs["RayJob"]
    assert job["spec"]["rayClusterSpec"] == cluster["spec"]
    groups = _groups(cluster["spec"])
    api_pods = [service["spec"]["rayClusterConfig"]["headGroupSpec"]] + service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    for pod in api_pods:
        env = {e["name"]: e for e in pod["template"]["spec"]["containers"][0]["env"]}
        told = json.loads(env["VISIONTRAIN_WORKER_TYPES"]["value"])
        assert told == {n: {"CPU": g["CPU"], "GPU": g["GPU"], "max_workers": g["max_workers"]} for n, g in groups.items()}
    serve = yaml.safe_load(service["spec"]["serveConfigV2"])
    dashboard = serve["applications"][0]["args"]["ray_dashboard_url"]
    assert dashboard == f"http://{cluster['metadata']['name']}-head-svc:8265"  # KubeRay's head Service name
    api_token = service["spec"]["rayClusterConfig"]["authOptions"]["secretName"]
    train_token = cluster["spec"]["authOptions"]["secretName"]
    assert api_token != train_token  # a training pod holds no key to the API's cluster
    env = {e["name"]: e for e in api_pods[0]["template"]["spec"]["containers"][0]["env"]}
    assert env["VISIONTRAIN_TRAINING_RAY_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": train_token, "key": "auth_token"}


@pytest.mark.ray  # imports Ray: after the session cluster set its auth mode, which Ray reads once
def test_serve_config_is_a_valid_serve_document_for_this_app(ray_cluster):
    from ray.serve.schema import ServeDeploySchema

    from serve_app.app import build_app

    service = next(d for d in render("base") if d["kind"] == "RayService")
    config = ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
    [app] = config.applications
    assert app.import_path == "serve_app.app:build_app"
    assert config.http_options.port == 8000
    names, stack = set(), [build_app(app.args)]
    while stack:  # the application graph: each Application's deployment and those bound into it
        deployment = stack.pop()._bound_deployment
        names.add(deployment.name)
        stack.extend(a for a in deployment.init_args if hasattr(a, "_bound_deployment"))
    assert {d.name for d in app.deployments} == names == {"Ingress", "IntentParser", "ModelRegistry",
                                                                  "TrainedModels"}


@pytest.mark.ray
def test_trained_models_ask_for_a_gpu_where_the_cluster_has_one(ray_cluster, monkeypatch):
    from serve_app.app import build_app
    from train_jobs.predict import predictor_gpus

    def asked(app) -> float:
        stack = [app]
        while stack:
            deployment = stack.pop()._bound_deployment
            if deployment.name == "TrainedModels":
                return deployment.ray_actor_options.get("num_gpus", 0)
            stack.extend(a for a in deployment.init_args if hasattr(a, "_bound_deployment"))

    assert asked(build_app({})) == asked(build_app({"cluster_gpus": 0})) == 0  # as deployed here: no GPU
    assert asked(build_app({"cluster_gpus": 2})) == 1
    assert predictor_gpus(0) == 0 and predictor_gpus(8) == 1  # a batch on a cluster that may add 8
    monkeypatch.setenv("VISIONTRAIN_PREDICT_GPUS", "0.25")  # the operator's choice wins
    assert asked(build_app({"cluster_gpus": 2})) == 0.25 and predictor_gpus(0) == predictor_gpus(8) == 0.25


def _pods(docs: list[dict]) -> list[tuple[str, dict, bool]]:
    """(kind of node, pod template, whether its cluster autoscales) of every Ray pod the manifests make."""
    service = next(d for d in docs if d["kind"] == "RayService")
    clusters = [service["spec"]["rayClusterConfig"]] + [d["spec"] for d in docs if d["kind"] == "RayCluster"]
    clusters += [d["spec"]["rayClusterSpec"] for d in docs if d["kind"] == "RayJob"]
    out = []
    for c in clusters:
        out.append(("head", c["headGroupSpec"]["template"], bool(c.get("enableInTreeAutoscaling"))))
        out += [("worker", g["template"], False) for g in c["workerGroupSpecs"]]
    return out


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer(peer: dict, pod: dict) -> bool:
    """Whether a NetworkPolicy peer admits ``pod`` ({"labels", "namespace"} or {"ip"} outside the cluster)."""
    import ipaddress

    if "ip" in pod:
        block = peer.get("ipBlock")
        return bool(block) and ipaddress.ip_address(pod["ip"]) in ipaddress.ip_network(block["cidr"]) and not any(
            ipaddress.ip_address(pod["ip"]) in ipaddress.ip_network(e) for e in block.get("except", []))
    if "ipBlock" in peer:
        return False  # pod addresses are the cluster's private ones
    ns_ok = (_matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod["namespace"]})
             if "namespaceSelector" in peer else pod["namespace"] == "visiontrain")
    return ns_ok and _matches(peer.get("podSelector", {}), pod["labels"])


def _allowed(policies: list[dict], src: dict, dst: dict, port: int) -> bool:
    """Kubernetes' rule: a connection needs the egress of the source and the ingress of the destination."""
    def side(kind: str, subject: dict, other: dict) -> bool:
        if "labels" not in subject or subject["namespace"] != "visiontrain":
            return True  # not a pod these policies can select
        chosen = [p for p in policies if kind in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"], subject["labels"])]
        rules = [r for p in chosen for r in p["spec"].get(kind.lower(), [])]
        peers = "from" if kind == "Ingress" else "to"
        return not chosen or any((peers not in r or any(_peer(x, other) for x in r[peers]))
                                 and ("ports" not in r or port in {x["port"] for x in r["ports"]}) for r in rules)

    return side("Egress", src, dst) and side("Ingress", dst, src)


def test_network_policies_keep_the_two_clusters_apart():
    docs = render("base")
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]

    def pod(role: str, node: str = "worker", namespace: str = "visiontrain") -> dict:
        return {"namespace": namespace, "labels": {"visiontrain.io/role": role, "ray.io/node-type": node,
                                                    "ray.io/is-ray-node": "yes"}}

    api, api_head, train, train_head = pod("api"), pod("api", "head"), pod("training"), pod("training", "head")
    outsider, prometheus = {"namespace": "web", "labels": {}}, {"namespace": "monitoring", "labels": {}}
    assert _allowed(policies, api, train_head, 8265)                            # the API submits jobs
    for port in (6379, 10001, 8080):
        assert not _allowed(policies, api, train_head, port), port
    for port in (6379, 8265, 10001, 8000):                                        # a training pod reaches
        assert not _allowed(policies, train, api_head, port), port                # nothing of the API's
    assert _allowed(policies, train, train_head, 6379) and _allowed(policies, api, api_head, 6379)
    assert _allowed(policies, outsider, api, 8000) and not _allowed(policies, outsider, api_head, 8265)
    assert not _allowed(policies, outsider, train_head, 8265)
    assert _allowed(policies, prometheus, train, 8080) and not _allowed(policies, outsider, train, 8080)
    s3, metadata, internal = {"ip": "52.216.8.1"}, {"ip": "169.254.169.254"}, {"ip": "10.1.2.3"}
    assert _allowed(policies, train, s3, 443) and not _allowed(policies, train, s3, 80)
    assert not _allowed(policies, train, metadata, 80) and not _allowed(policies, train, metadata, 443)
    assert not _allowed(policies, train, internal, 443)
    assert _allowed(policies, train_head, internal, 443)                          # the autoscaler's API server
    store = {"namespace": "storage", "labels": {"visiontrain.io/object-store": "true"}}
    assert _allowed(policies, train, store, 9000)
    tracker = {"namespace": "mlops", "labels": {"visiontrain.io/tracking": "true"}}  # a team's MLflow server
    assert _allowed(policies, train_head, tracker, 5000) and not _allowed(policies, train, {"namespace": "mlops",
                                                                                          "labels": {}}, 5000)


def test_pods_run_unprivileged_and_training_pods_hold_nothing_of_the_apis():
    docs = render("base")
    for node, template, autoscales in _pods(docs):
        spec, name = template["spec"], template["metadata"]["labels"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        # the service-account token only where KubeRay's autoscaler runs beside the head
        assert spec["automountServiceAccountToken"] is (node == "head" and autoscales), (node, name)
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}, name  # where Ray writes
            if template["metadata"]["labels"]["visiontrain.io/role"] == "training":
                text = json.dumps(c)
                assert "visiontrain-api" not in text and "JWT" not in text and "DATABASE" not in text, name


def test_image_ray_version_and_secrets_are_consistent():
    with open(os.path.join(ROOT, "constraints.txt")) as f:
        ray_pin = re.search(r"^ray==(\S+)$", f.read(), re.M).group(1)
    with open(os.path.join(KUBERAY, "Dockerfile")) as f:
        assert re.search(rf"^FROM rayproject/ray:{re.escape(ray_pin)}-", f.read(), re.M)
    text = "\n".join(yaml.safe_dump(d) for p in RENDERINGS[:3] for d in render(p))
    assert set(re.findall(r"rayVersion: '?([\d.]+)", text)) == {ray_pin}
    # every Secret the manifests read is one docs/deploy.md tells the operator to create, with its keys
    with open(os.path.join(ROOT, "docs", "deploy.md")) as f:
        guide = f.read()
    secrets = set(re.findall(r"secretName: (\S+)", text)) | set(re.findall(r"secretRef:\s+name: (\S+)", text))
    keys = set(re.findall(r"key: (\S+)\s+name: (\S+)", text))
    for name in secrets | {n for _, n in keys}:
        assert f"create secret generic {name} " in guide, name
    for key, name in keys:
        assert f"--from-literal={key}=" in guide, (name, key)


@pytest.mark.ray
def test_api_plans_for_the_training_cluster_it_is_told_about(ray_cluster, tmp_path, monkeypatch):
    """The API pods' VISIONTRAIN_WORKER_TYPES (as rendered) is what a plan's resources come from."""
    from serve_app.services.plan import _resources
    from serve_app.services.platform import Platform

    service = next(d for d in render("overlays/gpu-heavy") if d["kind"] == "RayService")
    env = {e["name"]: e for e in service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]}
    monkeypatch.setenv("VISIONTRAIN_WORKER_TYPES", env["VISIONTRAIN_WORKER_TYPES"]["value"])
    platform = Platform({"home": str(tmp_path), "database_url": f"sqlite:///{tmp_path}/records.db"})
    assert platform.cluster_shape() == {"cpus_per_node": 64, "gpus": 64}
    assert _resources({}, platform.cluster_shape()) == {"cpus_per_worker": 8.0, "use_gpu": True}
    monkeypatch.setenv("VISIONTRAIN_WORKER_TYPES", '{"gpu-workers": {"GPU": 1}}')
    with pytest.raises(ValueError, match="VISIONTRAIN_WORKER_TYPES is not valid.*max_workers"):
        Platform({"home": str(tmp_path), "database_url": f"sqlite:///{tmp_path}/records.db"})
