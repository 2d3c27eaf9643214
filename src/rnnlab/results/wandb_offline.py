"""The records of an offline W&B run (``<run>/wandb/offline-run-*/run-<id>.wandb``), read
without the network: learning curves for ``rnnlab-table --plot`` when a run logged to W&B
only.

The file is a log of 32 KiB blocks after a 7-byte header; each record is one chunk or is
split over several (first, middle, last), each chunk behind a 7-byte header (crc32, length,
type), and each record a ``wandb_internal_pb2.Record`` protobuf.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
FILE_HEADER = 7
CHUNK_HEADER = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def payloads(data: bytes) -> Iterator[bytes]:
    """The record payloads of a run file's bytes, chunks joined."""
    pos, pending = FILE_HEADER, b""
    while pos + CHUNK_HEADER.size <= len(data):
        room = BLOCK - pos % BLOCK
        if room < CHUNK_HEADER.size:  # block trailer padding
            pos += room
            continue
        _, length, kind = CHUNK_HEADER.unpack_from(data, pos)
        pos += CHUNK_HEADER.size
        chunk, pos = data[pos : pos + length], pos + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
        elif kind == 0 and length == 0:
            break


def records(path: Path) -> Iterator[Any]:
    """The ``Record`` protobufs of one ``run-<id>.wandb`` file."""
    from wandb.proto import wandb_internal_pb2 as pb

    for payload in payloads(Path(path).read_bytes()):
        record = pb.Record()
        record.ParseFromString(payload)
        yield record


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def history(run_dir: Path) -> list[dict[str, Any]]:
    """Every history row the run's offline W&B folders hold (a resumed run has several),
    oldest folder first."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb")):
        for record in records(path):
            if record.WhichOneof("record_type") == "history":
                rows.append({_key(i): json.loads(i.value_json) for i in record.history.item})
    return rows
