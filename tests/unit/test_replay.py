"""Replay: every format read from small fixture files, every bad-file message, and the merged timeline."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from simulator.replay import command
from simulator.replay.command import detect_format, load, main, parser
from simulator.replay.gpx import load_gpx
from simulator.replay.recording import ReplayError
from simulator.replay.table import ColumnMap, load_csv, parse_maps
from simulator.replay.tracking import load_tracking
from simulator.transport import Progress, Transport

DATA = Path(__file__).resolve().parents[1] / "data"
START = datetime(2024, 5, 1, 7, 0, tzinfo=timezone.utc).timestamp()
METRICA = [DATA / "metrica_home.csv", DATA / "metrica_away.csv"]
TRACAB = [DATA / "tracab_meta.xml", DATA / "tracab_raw.dat"]


def variant(tmp_path: Path, source: Path, old: str, new: str, name: str | None = None, count: int = 1) -> Path:
    """A copy of a fixture with one piece of text replaced (a bad file made from a good one)."""
    text = source.read_text()
    assert old in text, old
    path = tmp_path / (name or source.name)
    path.write_text(text.replace(old, new, count))
    return path


def args_for(*argv: str) -> argparse.Namespace:
    return parser().parse_args(list(argv))


# ------------------------------------------------------------------ GPX


def test_gpx_each_track_is_a_run_with_its_own_timestamps():
    rec = load_gpx(DATA / "run.gpx", None, skip_bad=False)
    assert rec.schema == {"latitude": "float", "longitude": "float", "timestamp": "timestamp", "elevation": "float"}
    assert [(t.run, len(t)) for t in rec.tracks] == [("run_1", 12), ("run_2", 8)]     # two segments, one run
    first, second = rec.tracks
    assert first.times[0] == START and first.times[-1] == START + 15        # segment 2 starts at 07:00:10
    assert second.times[0] == START + 60.5 and second.times[-1] == START + 67.5
    reading = first.readings(np.array([0]), "timestamp")[0]
    assert reading == {"latitude": 40.42, "longitude": -3.7, "elevation": 612.0, "timestamp": START}
    assert rec.skipped == [] and rec.notes == []


def test_gpx_run_option_names_one_track_or_prefixes_several(tmp_path):
    assert [t.run for t in load_gpx(DATA / "run.gpx", "morning", False).tracks] == ["morning_1", "morning_2"]
    text = (DATA / "run.gpx").read_text()
    one = tmp_path / "one.gpx"
    one.write_text(text[:text.index("  <trk>\n    <name>Intervals")] + "</gpx>\n")
    assert [t.run for t in load_gpx(one, "morning", False).tracks] == ["morning"]


def test_gpx_without_elevation_everywhere_leaves_it_out_and_says_so(tmp_path):
    path = variant(tmp_path, DATA / "run.gpx", "<ele>612.1</ele>", "")
    rec = load_gpx(path, None, False)
    assert "elevation" not in rec.schema
    assert rec.notes == ["run.gpx: 1 of 20 points have no <ele>: elevation left out"]


@pytest.mark.parametrize("old, new, message", [
    ("<time>2024-05-01T07:00:02Z</time>", "", "run.gpx: <trkpt> 3 has no <time>"),
    ("<time>2024-05-01T07:00:02Z</time>", "<time>yesterday</time>", "run.gpx: <trkpt> 3 <time> 'yesterday' is not a time"),
    ('lat="40.4200540"', 'lat="abc"', "run.gpx: <trkpt> 3 lat 'abc' is not a number"),
    ('lat="40.4200540"', 'lat="91"', "run.gpx: <trkpt> 3 lat 91 is outside [-90, 90]"),
    ('lon="-3.6999800"', "", "run.gpx: <trkpt> 3 has no lon"),
    ("<ele>612.2</ele>", "<ele>high</ele>", "run.gpx: <trkpt> 3 <ele> 'high' is not a number"),
    ("</trkseg>\n  </trk>\n</gpx>", "</trkseg>\n  </trk>\n", "run.gpx: not well-formed XML: no element found: line 39"),
])
def test_bad_gpx_names_the_point(tmp_path, old, new, message):
    path = variant(tmp_path, DATA / "run.gpx", old, new)
    with pytest.raises(ReplayError) as error:
        load_gpx(path, None, False)
    assert str(error.value).startswith(message), str(error.value)


def test_gpx_that_is_not_gpx_or_has_no_track(tmp_path):
    kml = tmp_path / "route.gpx"
    kml.write_text('<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>')
    with pytest.raises(ReplayError, match=r"route.gpx: not a GPX file: the root element is <kml>, not <gpx>"):
        load_gpx(kml, None, False)
    empty = tmp_path / "empty.gpx"
    empty.write_text('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><wpt lat="1" lon="2"/></gpx>')
    with pytest.raises(ReplayError, match=r"empty.gpx: no <trkpt> in any <trk>"):
        load_gpx(empty, None, False)


def test_gpx_skip_bad_leaves_out_and_counts_bad_points(tmp_path):
    path = variant(tmp_path, DATA / "run.gpx", "<time>2024-05-01T07:00:02Z</time>", "")
    path.write_text(path.read_text().replace('lat="40.4210270"', 'lat="x"'))      # a point of the second track
    rec = load_gpx(path, None, skip_bad=True)
    assert rec.skipped == ["run.gpx: <trkpt> 3 has no <time>", "run.gpx: <trkpt> 14 lat 'x' is not a number"]
    assert [len(t) for t in rec.tracks] == [11, 7]
    assert START + 2 not in rec.tracks[0].times


# ------------------------------------------------------------------ CSV


def test_csv_without_map_takes_every_column_and_infers_types():
    rec = load_csv(DATA / "tracks.csv", [], None, False)
    assert rec.schema == {"time": "timestamp", "lat": "float", "lon": "float", "heart_rate": "float", "note": "string"}
    assert rec.time_field == "time"
    (track,) = rec.tracks
    assert track.run == "tracks" and len(track) == 10
    assert track.times[0] == START + 0.25 and track.times[-1] == START + 9.25
    assert track.readings(np.array([1]), "time") == [
        {"lat": 40.420027, "lon": -3.69999, "heart_rate": 121.0, "note": "ok", "time": START + 1.25}]


def test_csv_map_renames_and_types_columns():
    maps = parse_maps(["timestamp=time", "latitude=lat", "longitude=lon", "hr=heart_rate:int"])
    rec = load_csv(DATA / "tracks.csv", maps, "r1", False)
    assert rec.schema == {"timestamp": "timestamp", "latitude": "float", "longitude": "float", "hr": "int"}
    assert rec.tracks[0].run == "r1"
    assert rec.tracks[0].readings(np.array([0]), rec.time_field) == [
        {"latitude": 40.42, "longitude": -3.7, "hr": 120, "timestamp": START + 0.25}]


def test_csv_epoch_seconds():
    rec = load_csv(DATA / "epoch.csv", [], None, False)
    assert rec.tracks[0].times.tolist() == [START + 0.5 * i for i in range(5)]


@pytest.mark.parametrize("line, cells, message", [
    (5, "2024-05-01T07:00:03.250,abc,-3.6999700,123,ok", "tracks.csv line 5: column 'lat' is not a number: 'abc'"),
    (5, "2024-05-01T07:00:03.250,nan,-3.6999700,123,ok", "tracks.csv line 5: column 'lat' is not a number: 'nan'"),
    (5, "2024-05-01T07:00:03.250,,-3.6999700,123,ok", "tracks.csv line 5: column 'lat' is empty"),
    (5, "later,40.42,-3.6999700,123,ok", "tracks.csv line 5: column 'time' is not a timestamp "
                                         "(ISO 8601 or epoch seconds): 'later'"),
    (5, "2024-05-01T07:00:03.250,40.42,-3.6999700", "tracks.csv line 5: 3 cells, the header has 5"),
])
def test_bad_csv_rows_name_the_line_and_column(tmp_path, line, cells, message):
    lines = (DATA / "tracks.csv").read_text().splitlines()
    lines[line - 1] = cells
    path = tmp_path / "tracks.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReplayError) as error:
        load_csv(path, [], None, False)
    assert str(error.value) == message
    rec = load_csv(path, [], None, skip_bad=True)
    assert rec.skipped == [message] and len(rec.tracks[0]) == 9


def test_csv_typed_column_rejects_other_values(tmp_path):
    path = variant(tmp_path, DATA / "tracks.csv", ",124,", ",124.5,")
    with pytest.raises(ReplayError, match=r"^tracks.csv line 6: column 'heart_rate' is not an integer: '124.5'$"):
        load_csv(path, parse_maps(["time=time", "hr=heart_rate:int"]), None, False)


@pytest.mark.parametrize("maps, message", [
    ([ColumnMap("timestamp", "when")], "tracks.csv: no column 'when' (the columns are: time, lat, lon, heart_rate, note)"),
    ([ColumnMap("lat", "lat")], "tracks.csv: need exactly one timestamp column (found none); map it"),
    ([ColumnMap("time", "time"), ColumnMap("t2", "time", "timestamp")], "tracks.csv: need exactly one timestamp "
                                                                          "column (found time, t2)"),
])
def test_csv_mapping_problems(maps, message):
    with pytest.raises(ReplayError) as error:
        load_csv(DATA / "tracks.csv", maps, None, False)
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize("spec, message", [
    ("latitude", "--map 'latitude': use FIELD=COLUMN or FIELD=COLUMN:TYPE"),
    ("latitude=lat:double", "--map 'latitude=lat:double': use FIELD=COLUMN"),
    ("9lat=lat", "--map '9lat=lat': field name '9lat' must match"),
])
def test_bad_map_options(spec, message):
    with pytest.raises(ReplayError) as error:
        parse_maps([spec])
    assert str(error.value).startswith(message), str(error.value)


def test_csv_empty_or_with_unusable_header(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ReplayError, match="empty.csv: empty file"):
        load_csv(empty, [], None, False)
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("time,heart rate\n2024-05-01T07:00:00,120\n")
    with pytest.raises(ReplayError, match=r"spaced.csv header: field name 'heart rate' must match .* with --map"):
        load_csv(spaced, [], None, False)
    header_only = tmp_path / "header.csv"
    header_only.write_text("time,lat\n")
    with pytest.raises(ReplayError, match="header.csv: no readings: no rows after the header"):
        load_csv(header_only, [], None, False)


# ------------------------------------------------------------------ tracking (kloppy)


def test_metrica_players_become_runs_in_metres_with_frame_times():
    rec = load_tracking("metrica", METRICA, "g1", START, now=0.0, skip_bad=False)
    assert rec.schema == {"x": "float", "y": "float", "timestamp": "timestamp"}
    runs = {t.run: t for t in rec.tracks}
    assert {run: len(t) for run, t in runs.items()} == {
        "g1_home_11": 10, "g1_home_1": 10, "g1_home_2": 6, "g1_away_25": 10, "g1_away_15": 10}   # 2 on at frame 5
    home_11 = runs["g1_home_11"]
    # Frames 1-6 (period 1) and 1007-1010 (period 2) at 25 fps: time = start + frame / 25.
    assert home_11.times == pytest.approx([START + f / 25 for f in (1, 2, 3, 4, 5, 6, 1007, 1008, 1009, 1010)])
    # Normalised (0.302, 0.301) on a 105 x 68 m pitch, from the centre spot.
    assert (home_11.columns["x"][0], home_11.columns["y"][0]) == pytest.approx(((0.302 - 0.5) * 105, (0.301 - 0.5) * 68))
    assert runs["g1_home_2"].times[0] == pytest.approx(START + 5 / 25)


def test_tracab_uses_its_kickoff_date_and_periods():
    rec = load_tracking("tracab", TRACAB, None, None, now=0.0, skip_bad=False)
    kickoff = datetime(2024, 3, 9, 15, 30, tzinfo=timezone.utc).timestamp()
    runs = {t.run: t for t in rec.tracks}
    assert set(runs) == {"tracab_meta_home_9", "tracab_meta_away_4"}       # the referee (team 4) is left out
    home = runs["tracab_meta_home_9"]
    # Frames 100-103 and 200-201 at 25 fps from the first period's start; frame 150 is between periods.
    assert home.times == pytest.approx([kickoff + (f - 100) / 25 for f in (100, 101, 102, 103, 200, 201)])
    assert (home.columns["x"][0], home.columns["y"][0]) == (-10.0, 2.0)      # centimetres -> metres


def test_tracking_start_falls_back_to_now_without_a_date():
    rec = load_tracking("metrica", METRICA, None, None, now=START, skip_bad=False)
    assert min(t.times[0] for t in rec.tracks) == pytest.approx(START + 1 / 25)


@pytest.mark.parametrize("file, old, new, message", [
    (0, "1,3,0.12,0.30600", "1,3,0.12,abc", "metrica_home.csv line 6: column 4 (Player11 x) is not a number: 'abc'"),
    (1, "1,3,0.12,0.60600,0.30300,", "1,3,0.12,0.60600,",
     "metrica_away.csv line 6: 8 columns, expected 9"),
    (0, "Period,Frame,Time [s]", "Periode,Frame,Time [s]", "metrica_home.csv line 3: not a Metrica tracking header"),
    (0, ",,,11,,1,,2,,,", ",,,11,,one,,2,,,", "metrica_home.csv line 2: column 6: jersey number 'one' is not a number"),
    (1, "\n1,4,0.16,0.60800,0.30400,0.70800,0.45400,0.53000,0.50000", "", "metrica_away.csv: no frame 4 (metrica_home.csv line 7 has it)"),
    (1, "0.53000,0.50000", "0.53000,0.60000", "metrica_home.csv line 7 and metrica_away.csv line 7: the ball is in "
                                              "different places in frame 4"),
    (0, "\n1,5,", "\n1,3,", "metrica_home.csv line 8: frame 3 does not follow frame 4"),
])
def test_bad_metrica_names_the_file_and_line(tmp_path, file, old, new, message):
    paths = list(METRICA)
    paths[file] = variant(tmp_path, METRICA[file], old, new)
    with pytest.raises(ReplayError) as error:
        load_tracking("metrica", paths, None, START, 0.0, False)
    assert str(error.value).startswith(message), str(error.value)


def test_metrica_skip_bad_leaves_the_frame_out_of_both_files(tmp_path):
    home = variant(tmp_path, METRICA[0], "1,3,0.12,0.30600", "1,3,0.12,abc")
    rec = load_tracking("metrica", [home, METRICA[1]], "g", START, 0.0, skip_bad=True)
    assert rec.skipped == ["metrica_home.csv line 6: column 4 (Player11 x) is not a number: 'abc'",
                           "metrica_home.csv: no frame 3 (metrica_away.csv line 6 has it)"]
    runs = {t.run: t for t in rec.tracks}
    assert len(runs["g_home_11"]) == len(runs["g_away_25"]) == 9
    assert START + 3 / 25 not in runs["g_away_25"].times.tolist()


def test_bad_tracab_dat_line(tmp_path):
    raw = variant(tmp_path, TRACAB[1], "0,2,4,1480,-300,2.20;", "0,2,4,1480;")
    with pytest.raises(ReplayError, match=r"^tracab_raw.dat line 3: target 2 '0,2,4,1480' is not six numbers"):
        load_tracking("tracab", [TRACAB[0], raw], None, None, 0.0, False)
    rec = load_tracking("tracab", [TRACAB[0], raw], None, None, 0.0, skip_bad=True)
    assert len(rec.skipped) == 1 and all(len(t) == 5 for t in rec.tracks)


def test_kloppy_errors_are_wrapped_naming_the_files(tmp_path):
    meta = variant(tmp_path, TRACAB[0], "<FrameRate>25</FrameRate>", "")
    with pytest.raises(ReplayError, match=r"^tracab_meta.xml, tracab_raw.dat: kloppy cannot read this as tracab "
                                          r"tracking data: AttributeError"):
        load_tracking("tracab", [meta, TRACAB[1]], None, None, 0.0, False)


def test_tracking_needs_its_files():
    with pytest.raises(ReplayError, match=r"metrica tracking needs 2 files: the home team's CSV, then the away "
                                          r"team's CSV; got 1"):
        load_tracking("metrica", METRICA[:1], None, None, 0.0, False)


# ------------------------------------------------------------------ the command


def test_formats_are_told_from_the_files():
    assert detect_format([DATA / "run.gpx"]) == "gpx"
    assert detect_format([DATA / "tracks.csv"]) == "csv"
    assert detect_format(METRICA) == "metrica"
    assert detect_format(TRACAB) == "tracab"
    with pytest.raises(ReplayError, match=r"tracab_meta.xml: cannot tell the format from the file; pass --format"):
        detect_format(TRACAB[:1])


def test_load_picks_devices_and_checks_options():
    assert load(args_for(str(DATA / "run.gpx")))[1] == "gpx_replay"
    assert load(args_for(str(DATA / "tracks.csv")))[1] == "csv_tracks"
    assert load(args_for(*map(str, METRICA), "--device", "mine"))[1] == "mine"
    for argv, message in [
        ([str(DATA / "run.gpx"), "--start", "2024-01-01"], "--start is for tracking data"),
        ([str(DATA / "run.gpx"), "--map", "a=b"], "--map is for csv files, not gpx"),
        ([*map(str, METRICA), "--start", "soon"], "--start 'soon' is not an ISO 8601 time or epoch seconds"),
        ([str(DATA / "run.gpx"), "--run", "bad run"], "run id 'bad run_1' must match"),
        ([str(DATA / "missing.gpx")], "no such file"),
    ]:
        with pytest.raises(ReplayError, match=message):
            load(args_for(*argv))


def test_a_bad_file_exits_2_with_the_message_and_sends_nothing(tmp_path, capsys):
    path = variant(tmp_path, DATA / "run.gpx", "<time>2024-05-01T07:00:02Z</time>", "")
    assert main([str(path), "--url", "http://127.0.0.1:9"]) == 2      # nothing listens there: never contacted
    assert capsys.readouterr().err == "replay: run.gpx: <trkpt> 3 has no <time>\n"


class RecordingTransport(Transport):
    """Keeps what it is sent, in order."""

    def __init__(self, http, base_url, progress) -> None:
        super().__init__(http, base_url, progress)
        self.sent: list[tuple[str, list[dict]]] = []

    async def send(self, device, run, readings):
        self.sent.append((run, readings))
        self.progress.sent += len(readings)

    async def close(self):
        pass


def test_stream_merges_runs_by_time_and_keeps_each_runs_file_order(monkeypatch):
    rec = load_gpx(DATA / "run.gpx", None, False)
    rec.tracks[1].times[2] = START + 62.0 - 10        # a time going back in the file stays in file order
    captured: list[RecordingTransport] = []

    def make(http, url, progress):
        captured.append(RecordingTransport(http, url, progress))
        return captured[0]

    async def no_registry(*_args):
        return None

    monkeypatch.setattr(command, "TRANSPORTS", {"ws": make})
    monkeypatch.setattr(command, "register", no_registry)
    monkeypatch.setattr(command, "CHUNK_READINGS", 3)
    args = args_for(str(DATA / "run.gpx"), "--as-fast-as-possible")
    progress = Progress()
    asyncio.run(command.stream(None, rec, "gpx_replay", args, asyncio.Event(), progress))
    sent = captured[0].sent
    assert progress.sent == 20 and all(len(readings) <= 3 for _, readings in sent)
    assert [r["timestamp"] for run, rs in sent if run == "run_2" for r in rs] == rec.tracks[1].times.tolist()
    runs_in_order = [run for run, _ in sent]
    assert runs_in_order.index("run_2") > max(i for i, run in enumerate(runs_in_order) if run == "run_1")
