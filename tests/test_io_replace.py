"""`cbqa.core.io.replace_dir`: a directory replaced 100 times while another process reads it in a loop is never missing
or half-written; the replaced version stays until the next publish; what a killed publisher leaves next to it is cleaned up, what a live one is writing is not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cbqa.core.io import atomic_writer, previous_link, remove_tree, replace_dir, staging_dir, stale_siblings

# Reads the path in a loop: it must always be there, and the file read through it must be one whole version.
# (A reader of several files pins one version by resolving the path once: a swap between two opens would otherwise
# give files of two versions; that is a property of any directory swap, not a gap.)
READER = r"""
import os, sys
target, stop = sys.argv[1], sys.argv[2]
reads = failures = 0
seen = set()
while not os.path.exists(stop):
    try:
        with open(os.path.join(target, "a.txt")) as f:
            text = f.read()
        words = text.split()
        if len(words) != 400 or len(set(words[1::2])) != 1:  # "version N " * 200, complete
            failures += 1
        seen.add(text)
    except OSError:
        failures += 1
    reads += 1
    if reads == 1:
        print("reading", flush=True)
print(reads, failures, len(seen))
"""


def publish(target: Path, version: int) -> None:
    staging = staging_dir(target)
    text = f"version {version} " * 200
    (staging / "a.txt").write_text(text)
    (staging / "b.txt").write_text(text)
    replace_dir(staging, target)


def test_reader_never_misses_the_directory_across_100_swaps(tmp_path: Path) -> None:
    target, stop = tmp_path / "index", tmp_path / "stop"
    target.mkdir()  # a plain directory from before the symlink scheme: migrated by the first swap
    (target / "a.txt").write_text("legacy")
    (target / "b.txt").write_text("legacy")
    publish(target, 0)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(target), str(stop)], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "reading"  # (however slowly this machine starts a process)
    for version in range(1, 101):
        publish(target, version)
    time.sleep(0.1)
    stop.touch()
    reads, failures, versions_seen = map(int, reader.communicate(timeout=600)[0].split())
    assert failures == 0 and reads > 100 and versions_seen > 1
    assert (target / "a.txt").read_text().startswith("version 100 ")
    # the published version and the one it replaced, with their symlinks; nothing else is left next to them
    prev = previous_link(target)
    assert (prev / "a.txt").read_text().startswith("version 99 ")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "stop") == sorted(
        ["index", prev.name, os.readlink(target), os.readlink(prev)]
    )


def test_a_reader_that_resolved_the_old_version_can_read_it_until_the_next_publish(tmp_path: Path) -> None:
    target = tmp_path / "index"
    publish(target, 1)
    pinned = target.resolve()  # a reader of several files pins the version it resolved
    publish(target, 2)
    assert (pinned / "b.txt").read_text().startswith("version 1 ")
    publish(target, 3)
    assert not pinned.exists()  # two publishes later it is gone: at most two versions take disk space
    remove_tree(target)
    assert list(tmp_path.iterdir()) == []


def test_stale_siblings_are_those_of_dead_processes(tmp_path: Path) -> None:
    target = tmp_path / "hf"
    publish(target, 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    live_staging = staging_dir(target)  # this (live) process is building the next version: kept
    host = live_staging.name.split(".stage-")[1].split("-")[0]
    killed_staging = tmp_path / f".hf.stage-{host}-{pid}-abc123.tmp"
    killed_version = tmp_path / f".hf.v-{host}-{pid}-0123456789ab"
    other_host = tmp_path / f".hf.stage-otherhost-{pid}-abc124.tmp"
    for d in (killed_staging, killed_version, other_host):
        d.mkdir()
    assert stale_siblings(target) == sorted([killed_staging, killed_version])
    publish(target, 2)
    assert not killed_staging.exists() and not killed_version.exists()
    assert live_staging.exists() and other_host.exists()


def test_next_atomic_write_removes_the_temp_file_a_killed_writer_left(tmp_path: Path) -> None:
    dead = int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    )
    host = staging_dir(tmp_path / "x").name.split(".stage-")[1].split("-")[0]
    killed = tmp_path / f".manifest.json.{host}-{dead}-k1ll3d.tmp"  # what SIGKILL mid-write leaves
    live = tmp_path / f".manifest.json.{host}-{os.getpid()}-l1ve.tmp"  # a live writer's: kept
    other = tmp_path / f".shard-00001.parquet.{host}-{dead}-0th3r.tmp"  # another file's: left to its own next write
    for p in (killed, live, other):
        p.write_text("partial")
    with atomic_writer(tmp_path / "manifest.json") as f:
        f.write("{}")
    assert not killed.exists() and live.exists() and other.exists()
