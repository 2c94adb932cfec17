"""deploy/: the Kubernetes manifests and the Slurm script agree with the CLI and the settings
(there is no cluster here: they are loaded, checked field by field, and run as far as a shell
allows)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.cli import build_parser
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
SBATCH = ROOT / "deploy" / "slurm" / "rnntune-workers.sbatch"


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    documents = []
    for name in kustomization["resources"]:
        documents += [d for d in yaml.safe_load_all((KUBE / name).read_text()) if d]
    return documents


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


def secret_keys() -> set[tuple[str, str]]:
    return {(name, key) for name, s in by_kind("Secret").items() for key in s["stringData"]}


def test_kustomization_lists_every_file_and_names_both_images() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    images = {i["name"] for i in kustomization["images"]}
    used = {container(w)["image"] for kind in ("Deployment", "Job")
            for w in by_kind(kind).values()}
    assert used == images == {"rnntune", "rnntune-cuda"}


def test_every_command_is_the_real_cli_and_every_env_a_setting() -> None:
    parser = build_parser()
    workloads = {**by_kind("Deployment"), **by_kind("Job")}
    assert set(workloads) == {"rnntune-api", "rnntune-worker", "rnntune-worker-gpu",
                              "rnntune-db-upgrade"}
    commands = {}
    for name, workload in workloads.items():
        spec = container(workload)
        assert spec["command"][0] == "rnntune", name
        commands[name] = parser.parse_args(spec["command"][1:])
        env = {e["name"]: e for e in spec["env"]}
        # Every workload reaches the database through the Secret, never a literal URL.
        assert env["RNNTUNE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "rnntune-database", "key": "url"}
        for variable in env:
            if variable.startswith("RNNTUNE_"):
                assert variable.removeprefix("RNNTUNE_").lower() in Settings.model_fields
        for ref in (e["valueFrom"]["secretKeyRef"] for e in env.values() if "valueFrom" in e):
            assert (ref["name"], ref["key"]) in secret_keys(), ref
    assert commands["rnntune-db-upgrade"].action == "upgrade"
    api = commands["rnntune-api"]
    assert (api.command, api.host, api.workers) == ("serve", "0.0.0.0", 0)
    assert commands["rnntune-worker"].device == "cpu"
    gpu = commands["rnntune-worker-gpu"]
    assert (gpu.command, gpu.gpus, gpu.per_gpu) == ("worker", "0", 2)


def test_api_has_its_bootstrap_key_probes_and_a_service_on_its_port() -> None:
    api = by_kind("Deployment")["rnntune-api"]
    spec = container(api)
    env = {e["name"]: e for e in spec["env"]}
    assert env["RNNTUNE_BOOTSTRAP_ADMIN_KEY"]["valueFrom"]["secretKeyRef"]["name"] == \
        "rnntune-bootstrap"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    [port] = spec["ports"]
    assert port["containerPort"] == int(spec["command"][spec["command"].index("--port") + 1])
    service = by_kind("Service")["rnntune-api"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    # The placeholder key is refused, so nobody serves with a key printed in a repository.
    placeholder = by_kind("Secret")["rnntune-bootstrap"]["stringData"]["admin-key"]
    with pytest.raises(ValueError, match="at least 24"):
        Settings(bootstrap_admin_key=placeholder)


def test_workers_request_what_they_use() -> None:
    deployments = by_kind("Deployment")
    cpu = container(deployments["rnntune-worker"])
    gpu = container(deployments["rnntune-worker-gpu"])
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
    assert cpu["resources"]["requests"]["cpu"] == cpu["resources"]["limits"]["cpu"] == "1"
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert gpu["image"] == "rnntune-cuda"
    tolerations = deployments["rnntune-worker-gpu"]["spec"]["template"]["spec"]["tolerations"]
    assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)
    for name in ("rnntune-worker", "rnntune-worker-gpu"):
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= 30  # time to checkpoint on SIGTERM
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert deployments[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_slurm_script_is_valid_bash_with_directives() -> None:
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)
    text = SBATCH.read_text()
    directives = [line.split(None, 1)[1] for line in text.splitlines()
                  if line.startswith("#SBATCH")]
    assert "--ntasks-per-node=1" in directives
    assert any(d.startswith("--signal=TERM@") for d in directives)
    first_command = next(i for i, line in enumerate(text.splitlines())
                         if line.strip() and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(text.splitlines())
               if line.startswith("#SBATCH")), "sbatch ignores directives after a command"


def stand_ins(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose ``rnntune`` appends its argv (one call per line, tab-separated) to a file,
    and whose ``srun`` runs its command once, here, as on a one-node allocation."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    record = tmp_path / "calls"
    (bin_dir / "rnntune").write_text(
        f'#!/bin/bash\n(IFS=$\'\\t\'; echo "$*") >> {shlex.quote(str(record))}\n')
    (bin_dir / "srun").write_text('#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\n'
                                  'exec "$@"\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}, record


def calls(record: Path) -> list[list[str]]:
    return [line.split("\t") for line in record.read_text().splitlines()]


def run_node_worker(tmp_path: Path, **env: str) -> list[str]:
    """The argv with which the script's per-node function starts ``rnntune``."""
    path, record = stand_ins(tmp_path)
    subprocess.run(["bash", "-c", f"source {shlex.quote(str(SBATCH))} && node_worker"],
                   env={**path, **env}, check=True, timeout=30)
    [argv] = calls(record)
    return argv


def test_slurm_job_upgrades_the_database_then_starts_the_node_workers(tmp_path: Path) -> None:
    path, record = stand_ins(tmp_path)
    url = "postgresql+psycopg://rnntune@db-host:5432/rnntune"
    subprocess.run(["bash", str(SBATCH)], check=True, timeout=30,
                   env={**path, "RNNTUNE_DATABASE_URL": url, "SLURM_CPUS_PER_TASK": "4"})
    upgrade, worker = calls(record)
    assert upgrade == ["db", "upgrade"]
    assert build_parser().parse_args(worker).workers == 4


@pytest.mark.parametrize(("env", "expected"), [
    ({"SLURM_CPUS_PER_TASK": "4"}, {"workers": 4, "device": "cpu", "gpus": None}),
    ({"SLURM_CPUS_PER_TASK": "4", "RNNTUNE_WORKERS_PER_NODE": "3"},
     {"workers": 3, "device": "cpu"}),
    ({"SLURM_GPUS_ON_NODE": "2"}, {"gpus": "0,1", "per_gpu": 2}),
    ({"SLURM_GPUS_ON_NODE": "4", "RNNTUNE_PER_GPU": "3"}, {"gpus": "0,1,2,3", "per_gpu": 3}),
])
def test_slurm_node_command_is_the_real_worker_cli(
    tmp_path: Path, env: dict[str, str], expected: dict[str, Any]
) -> None:
    argv = run_node_worker(tmp_path, **env)
    args = build_parser().parse_args(argv)
    assert args.command == "worker"
    for key, value in expected.items():
        assert getattr(args, key) == value, key


def test_slurm_script_refuses_to_start_without_a_database_url(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(SBATCH)], env={"PATH": os.environ["PATH"]},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "RNNTUNE_DATABASE_URL" in result.stderr
