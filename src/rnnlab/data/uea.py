"""One problem of the UEA/UCR time-series classification archives, fetched by name.

``data=uea data.name=JapaneseVowels`` reads ``<data_dir>/<name>/<name>_TRAIN.ts`` and
``_TEST.ts``; when they are missing it downloads ``<name>.zip`` from the archive and takes
the two files out of it. The archive's own train/test split is kept (its published results
use it); validation is ``val_fraction`` of the training file, seeded.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from rnnlab.data.download import ensure_files
from rnnlab.data.files import SequenceFile, read_sequence_file
from rnnlab.data.options import UeaOptions
from rnnlab.data.remote import ChecksumError, DownloadError, RemoteFile, verify
from rnnlab.data.sequences import SequenceDataModule
from rnnlab.errors import DataError

ARCHIVE_URL = "https://www.timeseriesclassification.com/aeon-toolkit"

# md5 of the .ts files of problems whose copy could be checked. JapaneseVowels: the files
# as the aeon package (1.6.0) ships them, taken from the archive; the archive's zip itself
# was not available to check, so its own digest is not recorded.
KNOWN_MD5 = {
    "JapaneseVowels_TRAIN.ts": "9165e3eec783ac6342d658685c864d19",
    "JapaneseVowels_TEST.ts": "14d15214e3ab6ac39ab2d48901d3e2a3",
}


def problem_files(name: str) -> list[str]:
    return [f"{name}_TRAIN.ts", f"{name}_TEST.ts"]


def _extract(archive: Path, names: list[str], directory: Path) -> None:
    """Take ``names`` out of the zip (wherever they sit in it) into ``directory``."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {Path(m).name: m for m in zf.namelist()}
            missing = [n for n in names if n not in members]
            if missing:
                raise DataError(
                    f"{archive}: holds no {', '.join(missing)}; delete it to download again"
                )
            for n in names:
                tmp = directory / f".{n}.part"
                tmp.write_bytes(zf.read(members[n]))
                tmp.replace(directory / n)
    except zipfile.BadZipFile:
        raise DataError(f"{archive}: not a zip file; delete it to download it again") from None


def fetch_problem(name: str, directory: Path, *, download: bool, check: bool) -> list[Path]:
    """The paths of the problem's TRAIN and TEST files, downloaded if missing and allowed."""
    names = problem_files(name)
    paths = [directory / n for n in names]
    if not all(p.is_file() for p in paths):
        url = f"{ARCHIVE_URL}/{name}.zip"
        where = f"put {' and '.join(names)} (from {url}) in {directory}"
        if not download:
            raise DataError(f"{name}: files missing and data.download=false; {where}")
        try:
            (archive,) = ensure_files([RemoteFile(f"{name}.zip", (url,))], directory)
        except DownloadError:
            raise DataError(f"{name}: could not download {url} (offline?); {where}") from None
        _extract(archive, names, directory)
    if check:
        for path in paths:
            if path.name in KNOWN_MD5:
                try:
                    verify(path, RemoteFile(path.name, (), md5=KNOWN_MD5[path.name]))
                except ChecksumError as err:
                    raise DataError(str(err).replace("\n", " ")) from None
    return paths


class UEADataModule(SequenceDataModule):
    """The archive problem ``name``: its TRAIN file (less validation) and its TEST file."""

    Options = UeaOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._paths: list[Path] | None = None

    def _read(self, path: Path) -> SequenceFile:
        return read_sequence_file(path)  # .ts files: no csv columns

    def file_paths(self) -> dict[str, Path | None]:
        if self._paths is None:
            self._paths = fetch_problem(self.name, self.data_dir / self.name,
                                        download=self.download, check=self.verify)  # fmt: skip
        train, test = self._paths
        return {"train": train, "val": None, "test": test}
