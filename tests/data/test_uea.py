"""data=uea: an archive problem by name, read from its folder or downloaded as a zip."""

from __future__ import annotations

import shutil
import socket
import zipfile

import pytest

from rnnlab.data import uea
from rnnlab.data.uea import UEADataModule
from rnnlab.errors import DataError

from sequence_files import random_cases, ts_text


def test_japanese_vowels_official_split(tmp_path, shared_data):
    vowels = shared_data / "uea" / "JapaneseVowels"
    if not vowels.is_dir():
        pytest.skip(f"no offline copy of JapaneseVowels at {vowels}")
    shutil.copytree(vowels, tmp_path / "JapaneseVowels")
    dm = UEADataModule(name="JapaneseVowels", data_dir=str(tmp_path), download=False)
    dm.setup()
    assert dm.counts == {"train": 243, "val": 27, "test": 370}  # 270 less 10% held out
    assert dm.spec() == {"input_size": 12, "num_outputs": 9}
    assert dm.classes == [str(k) for k in range(1, 10)]
    assert int(dm.tensors["test"][2].min()) == 7 and int(dm.tensors["test"][2].max()) == 29
    train_lengths = dm.tensors["train"][2].tolist() + dm.tensors["val"][2].tolist()
    assert min(train_lengths) == 7 and max(train_lengths) == 26


def _archive(folder, name="Tiny", members=("TRAIN", "TEST")):
    """``<name>.zip`` with the problem's files inside a sub-folder, as a served archive."""
    cases = random_cases(12, 2)
    labels = ["x", "y"] * 6
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / f"{name}.zip", "w") as zf:
        for split in members:
            zf.writestr(f"{name}/{name}_{split}.ts", ts_text(cases, labels))
    return folder


def test_download_from_the_archive_and_extract(tmp_path, monkeypatch):
    served = _archive(tmp_path / "served")
    monkeypatch.setattr(uea, "ARCHIVE_URL", served.as_uri())
    dm = UEADataModule(name="Tiny", data_dir=str(tmp_path / "data"))
    dm.setup()
    assert dm.counts == {"train": 11, "val": 1, "test": 12}
    assert sorted(p.name for p in (tmp_path / "data" / "Tiny").iterdir()) == [
        "Tiny.zip", "Tiny_TEST.ts", "Tiny_TRAIN.ts"]  # fmt: skip
    (served / "Tiny.zip").unlink()  # present files are read without a download
    UEADataModule(name="Tiny", data_dir=str(tmp_path / "data")).setup()


def test_offline_says_where_to_put_the_files(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port that refuses connections at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(uea, "ARCHIVE_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(DataError) as err:
        UEADataModule(name="Tiny", data_dir=str(tmp_path)).setup()
    message = str(err.value)
    assert "\n" not in message and f"http://127.0.0.1:{port}/Tiny.zip" in message
    assert "put Tiny_TRAIN.ts and Tiny_TEST.ts" in message and str(tmp_path / "Tiny") in message
    with pytest.raises(DataError, match=r"files missing and data.download=false; put Tiny_TRAIN"):
        UEADataModule(name="Tiny", data_dir=str(tmp_path), download=False).setup()


def test_an_archive_without_the_files_is_refused(tmp_path, monkeypatch):
    served = _archive(tmp_path / "served", members=("TRAIN",))
    monkeypatch.setattr(uea, "ARCHIVE_URL", served.as_uri())
    with pytest.raises(DataError, match=r"Tiny.zip: holds no Tiny_TEST.ts; delete it"):
        UEADataModule(name="Tiny", data_dir=str(tmp_path / "data")).setup()


def test_an_archive_without_either_file_or_not_a_zip_is_one_line(tmp_path, monkeypatch):
    served = _archive(tmp_path / "served", members=())
    monkeypatch.setattr(uea, "ARCHIVE_URL", served.as_uri())
    archive = tmp_path / "data" / "Tiny" / "Tiny.zip"
    with pytest.raises(DataError) as err:
        UEADataModule(name="Tiny", data_dir=str(tmp_path / "data")).setup()
    assert str(err.value) == (
        f"{archive}: holds no Tiny_TRAIN.ts, Tiny_TEST.ts; delete it to download again"
    )
    archive.write_bytes(b"an error page, not a zip")
    with pytest.raises(DataError) as err:
        UEADataModule(name="Tiny", data_dir=str(tmp_path / "data")).setup()
    assert str(err.value) == f"{archive}: not a zip file; delete it to download it again"


def test_recorded_checksums_are_checked(tmp_path):
    folder = tmp_path / "JapaneseVowels"
    folder.mkdir()
    text = ts_text(random_cases(12, 12), ["1", "2"] * 6)
    for split in ("TRAIN", "TEST"):
        (folder / f"JapaneseVowels_{split}.ts").write_text(text)
    with pytest.raises(DataError) as err:
        UEADataModule(name="JapaneseVowels", data_dir=str(tmp_path)).setup()
    assert "JapaneseVowels_TRAIN.ts: md5 is" in str(err.value) and "\n" not in str(err.value)
    assert uea.KNOWN_MD5["JapaneseVowels_TRAIN.ts"] in str(err.value)
    dm = UEADataModule(name="JapaneseVowels", data_dir=str(tmp_path), verify=False)
    dm.setup()
    assert dm.counts["test"] == 12
