"""Read the records of an offline W&B run file (``run-<id>.wandb``) without the network.

The file is a log of 32 KiB blocks, after a 7-byte header; each record chunk has a
7-byte header (crc32, length, type: full/first/middle/last) and a protobuf payload.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
FILE_HEADER = 7
CHUNK_HEADER = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(data: bytes):
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


def read_offline_run(run_dir: Path) -> dict[str, Any]:
    """Config, history rows, summary and run metadata of one offline run directory."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = Path(run_dir).glob("run-*.wandb")
    out: dict[str, Any] = {
        "config": {},
        "history": [],
        "summary": {},
        "run": None,
        "exit_code": None,
    }
    for payload in _payloads(path.read_bytes()):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["run"] = record.run
            out["config"].update(
                {i.key: json.loads(i.value_json) for i in record.run.config.update}
            )
        elif kind == "exit":
            out["exit_code"] = record.exit.exit_code
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            key = lambda i: i.key or "/".join(i.nested_key)  # noqa: E731
            out["history"].append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            out["summary"].update(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in record.summary.update
                }
            )
    return out
