"""Export a run's archived readings as a file, as the old system saved a run when its stream closed:
`GET /export/{device_id}/{run_id}.csv` or `.parquet`. Streamed a Cassandra page at a time, so a
long run is never held in memory whole."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import pyarrow as pa
import pyarrow.parquet as pq
from aiohttp import web
from faust.web import Request, View

from cql import history
from models.device import parse_instant
from sports_prophet.app import app, registry
from web.devices import path_id
from web.errors import ApiError
from web.history import ARCHIVED_RUN_ERRORS, archived_summary
from web.openapi import Reply, documented

FORMATS = ("csv", "parquet")
ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "string": pa.string(), "bool": pa.bool_(),
               "timestamp": pa.timestamp("ms", tz="UTC")}


def iso(seconds: float | None) -> str:
    return "" if seconds is None else datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


async def columns(device_id: str, first_page: list[dict[str, Any]]) -> dict[str, str]:
    """The data columns and their types: the device's registered schema, or, for a device since
    deleted, the fields of the first readings (as strings)."""
    device = await registry.get(device_id)
    if device is not None:
        return dict(device.schema)
    return {name: "string" for reading in first_page for name in reading["data"]}


class ChunkSink(io.RawIOBase):
    """A write-only file that hands what pyarrow writes to the HTTP response, chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def arrow_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "timestamp":
        seconds = parse_instant(value)
        return None if seconds is None else round(seconds * 1000)
    if kind == "float":
        return float(value)
    return value if kind != "string" or isinstance(value, str) else str(value)


async def csv_chunks(names: dict[str, str], pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["t", "received_at", *names])
    async for page in pages:
        for reading in page:
            data = reading["data"]
            out.writerow([iso(reading["t"]), iso(reading["received_at"]), *(data.get(name, "") for name in names)])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue().encode()


async def parquet_chunks(names: dict[str, str], pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """One Parquet row group per Cassandra page."""
    schema = pa.schema([("t", pa.timestamp("ms", tz="UTC")), ("received_at", pa.timestamp("ms", tz="UTC")),
                        *((name, ARROW_TYPES.get(kind, pa.string())) for name, kind in names.items())])
    sink = ChunkSink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    async for page in pages:
        table = {"t": [round(r["t"] * 1000) for r in page],
                 "received_at": [None if r["received_at"] is None else round(r["received_at"] * 1000) for r in page]}
        for name, kind in names.items():
            table[name] = [arrow_value(r["data"].get(name), kind) for r in page]
        writer.write_table(pa.table(table, schema=schema))
        yield sink.drain()
    writer.close()
    yield sink.drain()


@app.page("/export/{device_id}/{filename}")
class ExportRun(View):
    @documented("An archived run's readings as a CSV or Parquet file", tag="history",
                ok=Reply({"type": "string", "format": "binary"}, media=("text/csv", "application/vnd.apache.parquet")),
                errors={**ARCHIVED_RUN_ERRORS, 404: "Not `<run_id>.csv` or `<run_id>.parquet`, or the archive has "
                                                    "nothing of the run"})
    async def get(self, request: Request, device_id: str, filename: str) -> web.StreamResponse:
        run_id, _, extension = filename.rpartition(".")
        if extension not in FORMATS:
            raise ApiError(404, "unknown export format", f"ask for {run_id or filename}.csv or {run_id or filename}.parquet")
        path_id(device_id, "device_id")
        path_id(run_id, "run_id")
        await archived_summary(device_id, run_id)
        pages = history.all_readings(device_id, run_id)
        first = await anext(pages, [])
        names = await columns(device_id, first)

        async def all_pages() -> AsyncIterator[list[dict[str, Any]]]:
            if first:
                yield first
            async for page in pages:
                yield page

        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8" if extension == "csv" else "application/vnd.apache.parquet",
            "Content-Disposition": f'attachment; filename="{device_id}_{run_id}.{extension}"'})
        await response.prepare(request)
        chunks = csv_chunks if extension == "csv" else parquet_chunks
        async for chunk in chunks(names, all_pages()):
            if chunk:
                await response.write(chunk)
        await response.write_eof()
        return response
