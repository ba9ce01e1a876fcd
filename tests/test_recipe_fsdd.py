"""recipes/fsdd/prepare.py on a tiny FSDD built in the real GitHub layout."""

import json
import shutil
import zipfile

import pytest
from conftest import DATA, load_recipe


@pytest.fixture
def fake_fsdd(tmp_path):
    """recordings/{digit}_{speaker}_{take}.wav for takes 0, 7 and 20, plus a broken
    file."""
    root = tmp_path / "free-spoken-digit-dataset-master" / "recordings"
    root.mkdir(parents=True)
    for take in (0, 7, 20):
        shutil.copy(DATA / "2_jackson_1.wav", root / f"2_jackson_{take}.wav")
        shutil.copy(DATA / "8_george_3.wav", root / f"8_george_{take}.wav")
    (root / "5_theo_30.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEbroken")
    return tmp_path


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prepare_from_source(fake_fsdd, tmp_path, capsys):
    out = tmp_path / "out"
    counts = load_recipe("fsdd").prepare(fake_fsdd, out)
    assert counts == {"train": 2, "dev": 2, "test": 2}
    assert "5_theo_30.wav" in capsys.readouterr().err  # reported, run went on
    test = read(out / "test.jsonl")
    assert {e["text"] for e in test} == {"two", "eight"}
    assert all(e["take"] == 0 and e["duration"] > 0.1 for e in test)
    # idempotent: a second run writes the same manifests
    before = (out / "train.jsonl").read_text()
    load_recipe("fsdd").prepare(fake_fsdd, out)
    assert (out / "train.jsonl").read_text() == before


def test_prepare_downloads_and_extracts(fake_fsdd, tmp_path):
    archive = tmp_path / "fsdd.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in fake_fsdd.rglob("*.wav"):
            z.write(path, path.relative_to(fake_fsdd))
    out = tmp_path / "out"
    counts = load_recipe("fsdd").prepare(None, out, url=archive.as_uri())
    assert counts["test"] == 2
    assert (out / "download").is_dir()
    assert all((out / e["audio"]).exists() for e in read(out / "test.jsonl"))


def test_no_recordings_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no FSDD recordings"):
        load_recipe("fsdd").prepare(tmp_path, tmp_path / "out")
