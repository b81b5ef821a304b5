"""npe2 finds the plugin and every contribution; the wheel ships the manifest."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import npe2
import pytest
from npe2 import PluginManager
from npe2.manifest.utils import import_python_name

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "napari-fluogan"


@pytest.fixture(scope="module")
def manifest() -> npe2.PluginManifest:
    return npe2.PluginManifest.from_distribution(PLUGIN)


def test_manifest_is_valid_and_complete(manifest):
    manifest.validate_imports()  # every python_name imports and exists
    contributions = manifest.contributions
    commands = {c.id for c in contributions.commands}
    assert commands == {
        "napari-fluogan.get_reader",
        "napari-fluogan.write_tiff",
        "napari-fluogan.make_line_pair_sample",
        "napari-fluogan.widget",
        "napari-fluogan.compare",
        "napari-fluogan.line_profile",
    }
    [reader] = contributions.readers
    assert "*.tif" in reader.filename_patterns and "*.tiff" in reader.filename_patterns
    [writer] = contributions.writers
    assert set(writer.filename_extensions) == {".tif", ".tiff"}
    assert [str(t) for t in writer.layer_types] == ["image"]
    [sample] = contributions.sample_data
    assert sample.key == "line_pairs"
    widgets = {w.command: w.display_name for w in contributions.widgets}
    assert widgets["napari-fluogan.widget"] == "FluoGAN reconstruction"
    used = {reader.command, writer.command, sample.command, *widgets}
    assert used == commands  # no dangling command


def test_npe2_validate_command():
    npe2_cli = Path(sys.executable).with_name("npe2")
    result = subprocess.run(
        [str(npe2_cli), "validate", PLUGIN], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_plugin_manager_discovers_contributions(tmp_path):
    pm = PluginManager()
    pm.discover()
    assert PLUGIN in {m.name for m in pm.iter_manifests()}
    readers = [r.command for r in pm.iter_compatible_readers([str(tmp_path / "s.tif")])]
    assert "napari-fluogan.get_reader" in readers
    assert not [
        r for r in pm.iter_compatible_readers([str(tmp_path / "s.png")]) if r.plugin_name == PLUGIN
    ]
    writers = [w.command for w in pm.iter_compatible_writers(["image"])]
    assert "napari-fluogan.write_tiff" in writers
    widget_cls = import_python_name(pm.get_command("napari-fluogan.widget").python_name)
    assert widget_cls.__name__ == "FluoGANWidget"
    sample = pm.get_command("napari-fluogan.make_line_pair_sample").python_name
    assert callable(import_python_name(sample))


def test_manifest_symlink_points_to_single_manifest():
    link = ROOT / "src" / "napari_fluogan" / "napari.yaml"
    assert link.is_symlink() and link.resolve() == (ROOT / "napari.yaml").resolve()


def test_wheel_contains_manifest(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("napari_fluogan-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "napari_fluogan/napari.yaml" in names
        text = zf.read("napari_fluogan/napari.yaml").decode()
        entry_points = zf.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    assert "napari-fluogan.widget" in text
    assert "napari.manifest" in entry_points and "napari_fluogan:napari.yaml" in entry_points
    assert "napari_fluogan/napari/widget.py" in names


@pytest.mark.parametrize("name", ["FluoGAN reconstruction", "Compare methods", "Line profile"])
def test_every_widget_docks_in_napari(make_napari_viewer, name):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    assert dock is not None and widget is not None
