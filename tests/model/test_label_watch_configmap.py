"""The label watcher follows a Kubernetes ConfigMap volume: the kubelet writes the new content into a
new timestamped directory and swaps the `..data` symlink; `labels.yaml` is a symlink through it."""

import os
import shutil
from pathlib import Path

from stream_classifier.labels import load_label_set
from stream_classifier.model.engines import load_engine
from stream_classifier.observability import Metrics
from stream_classifier.stream.label_watch import LabelWatcher

REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "configs" / "labels"


class ConfigMapVolume:
    """What the kubelet's atomic writer does, step by step."""

    def __init__(self, root: Path, content: str):
        self.root, self.generation = root, 0
        root.mkdir()
        self._write(content)
        os.symlink("..data/labels.yaml", root / "labels.yaml")

    def _write(self, content: str) -> Path:
        self.generation += 1
        version_dir = self.root / f"..2026_01_01_00_00_{self.generation:02d}.{os.getpid()}"
        version_dir.mkdir()
        (version_dir / "labels.yaml").write_text(content, encoding="utf-8")
        tmp_link = self.root / "..data_tmp"
        os.symlink(version_dir.name, tmp_link)
        old = (self.root / "..data").resolve() if (self.root / "..data").exists() else None
        os.rename(tmp_link, self.root / "..data")  # the atomic swap
        if old is not None:
            shutil.rmtree(old)
        return version_dir / "labels.yaml"

    def update(self, content: str, keep_mtime_of: Path | None = None) -> None:
        before = os.stat(self.root / "labels.yaml") if keep_mtime_of else None
        written = self._write(content)
        if before is not None:
            os.utime(written, ns=(before.st_atime_ns, before.st_mtime_ns))


def reloads(metrics: Metrics, result: str) -> float:
    return metrics.registry.get_sample_value("sc_label_reloads_total", {"result": result}) or 0.0


def test_watcher_follows_a_configmap_symlink_swap(tmp_path, default_model_dir):
    sentiment = (LABELS / "sentiment.yaml").read_text(encoding="utf-8")
    volume = ConfigMapVolume(tmp_path / "labels", sentiment)
    metrics = Metrics()
    watcher = LabelWatcher(
        volume.root / "labels.yaml", load_engine(default_model_dir, cache_entries=0), metrics, interval_s=0.01
    )
    assert watcher.current.version == load_label_set(LABELS / "sentiment.yaml").version
    assert not watcher.maybe_reload(now=1.0), "nothing changed"

    volume.update((LABELS / "opinion_zh.yaml").read_text(encoding="utf-8"))
    assert watcher.maybe_reload(now=2.0)
    assert watcher.current.version == load_label_set(LABELS / "opinion_zh.yaml").version
    assert reloads(metrics, "success") == 1

    # same size, same mtime, different content: only the file's identity changed
    swapped = (LABELS / "opinion_zh.yaml").read_text(encoding="utf-8").replace("complaint", "grievance")
    assert len(swapped.encode()) == len((LABELS / "opinion_zh.yaml").read_bytes())
    volume.update(swapped, keep_mtime_of=volume.root / "labels.yaml")
    assert watcher.maybe_reload(now=3.0)
    assert "grievance" in watcher.current.names

    volume.update("name: broken\nlabels: [{name: only-one}]\n")
    assert not watcher.maybe_reload(now=4.0)
    assert "grievance" in watcher.current.names and reloads(metrics, "failure") == 1
