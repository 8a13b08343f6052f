import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Temporary files: none in /tmp. pytest's numbered base directories (tmp_path, tmp_path_factory; it keeps the last
# three runs') go in the repository's .tmp/ (git-ignored), and so does one scratch directory for the whole run,
# .tmp/<pid of the pytest process>, removed when the run ends: TMPDIR and tempfile's default here and in every process
# a test starts (xdist workers, commands, forkservers), so what libraries put in the system's temporary directory lands
# there: Ray's session directories, torch inductor's cache, multiprocessing's sockets, spaCy's and sentencepiece's
# files. Tests themselves write only under tmp_path / tmp_path_factory.
TMP = Path(__file__).resolve().parents[1] / ".tmp"
SCRATCH_VAR = "CBQA_TEST_SCRATCH"  # set by the process that made the scratch directory, for its workers


def _scratch() -> tuple[Path, bool]:
    """This run's scratch directory, and whether this process made it (xdist workers use their controller's)."""
    inherited = os.environ.get(SCRATCH_VAR)
    if inherited and Path(inherited).is_dir():
        return Path(inherited), False
    TMP.mkdir(exist_ok=True)
    for old in TMP.iterdir():  # left by a run that was killed before it could remove it
        if old.name.isdigit() and not _alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    scratch = TMP / str(os.getpid())  # short: Ray's socket paths under it must stay within AF_UNIX's 107 bytes
    scratch.mkdir()
    return scratch, True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


SCRATCH, OWN_SCRATCH = _scratch()
os.environ[SCRATCH_VAR] = str(SCRATCH)
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(TMP))
os.environ["TMPDIR"] = str(SCRATCH)
tempfile.tempdir = str(SCRATCH)
# Ray: <dir>/ray/session_<date>_<pid>/sockets/plasma_store has to fit in 107 bytes; a checkout too deep for that
# leaves Ray's files where Ray puts them by default.
os.environ["RAY_TMPDIR"] = str(SCRATCH) if len(str(SCRATCH)) <= 41 else "/tmp"
os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(SCRATCH / "torchinductor")


def pytest_unconfigure(config) -> None:
    if OWN_SCRATCH:  # after the workers are gone: nothing uses it any more ...
        from multiprocessing.util import Finalize

        # ... but at exit multiprocessing removes its own temporary directory (pymp-*, here) first: a finaliser of a
        # lower priority than its (-100) runs after it
        Finalize(None, shutil.rmtree, args=(SCRATCH, True), exitpriority=-200)


# One OpenMP thread for torch and FAISS, here and in every subprocess a test starts (unless the caller set one). The
# tests' models are tiny: a second thread gains nothing, and on 2 cores shared with other work the two threads stall
# on each other (measured at load average ~4: test_learns_tiny_task_and_predict_cli 89 s with 2 threads, 5.6 s with 1).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this file (by a plugin): the variable came too late for it
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Offline everywhere: no hub look-ups from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COLORS = ["red", "blue", "green", "black", "white", "amber", "violet", "silver"]


@pytest.fixture(scope="session")
def tiny_qa(tmp_path_factory) -> dict[str, Path]:
    """A tiny corpus and QA file (train/dev split) plus a sentencepiece T5 tokenizer trained on them."""
    from cbqa.model.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("tiny")
    rows, docs = [], []
    for i in range(48):
        color = COLORS[i % len(COLORS)]
        docs.append(
            {
                "id": f"d{i}",
                "title": f"Item {i}",
                "text": f"Item {i} is painted {color}. The colour of item {i} is {color}.",
            }
        )
        rows.append(
            {
                "id": f"q{i}",
                "question": f"What colour is item {i}?",
                "answers": [color],
                "split": "dev" if i % 6 == 0 else "train",
            }
        )
    (d / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in docs))
    (d / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts = [r["text"] for r in docs] + [r["question"] for r in rows]
    train_tokenizer(texts, d / "tok", vocab_size=120)
    return {"dir": d, "corpus": d / "corpus.jsonl", "qa": d / "qa.jsonl", "tok": d / "tok"}


@pytest.fixture(scope="session")
def app_runs_template(tmp_path_factory) -> Path:
    """A runs directory holding one tiny demo-like run (tests/helpers/app_run.py), made once per session; tests that change
    it work on a copy."""
    from helpers.app_run import make_run

    root = tmp_path_factory.mktemp("app_runs")
    make_run(root)
    return root


# How `make test` shares the files between its two xdist workers (--dist loadfile: a file's tests on one worker, its
# module fixtures built once). The files in SAME_WORKER go to one worker together (the scheduler below): they start
# their commands (killed and rerun ones, FSDP and DDP ranks) forked from a server that imports torch, Lightning, spaCy
# and FAISS once per worker (helpers/killing.py), so together they pay for those imports once.
# (Not --dist loadgroup with xdist_group marks: pytest-xdist 3.8 sets the group on a node id attribute that pytest 9
# no longer reads, so the marks are lost.)
FORKED = "commands forked from preloaded imports"
SAME_WORKER = dict.fromkeys(("test_demo.py", "test_kill_resume.py", "test_fsdp.py", "test_ddp.py"), FORKED)
# Files are handed out in the order of the collection (xdist's own order, most tests first, is turned off below): the
# longest first, then those with other slow tests, then the quick ones, so that the run ends with short files evening
# out the two workers instead of one worker alone with a minute-long file. Seconds measured alone on the shared
# 2-core machine; the order only needs to be roughly right.
LONGEST_FIRST = (
    "test_demo.py",  # ~75 s: an uninterrupted smoke demo beside a killed and rerun one (then the rest of SAME_WORKER)
    "test_kill_resume.py",  # ~15 s: four commands killed and rerun beside uninterrupted runs
    "test_fsdp.py",  # ~30 s: 2-rank FSDP runs (uninterrupted, killed, rerun)
    "test_ddp.py",  # ~25 s: a 2-process DDP pretraining
    "test_ray_engines.py",  # ~50 s: a local Ray, spaCy and encoder actors
    "test_app_browser.py",  # ~55 s: the app served to headless Chromium
    "test_gpu_check.py",  # ~45 s: bench/gpu_check.py --dry-run in a fresh interpreter, torch.compile
)


def pytest_configure(config) -> None:
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist >= 3.6 reorders files by their number of tests
        config.option.loadscopereorder = False


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, called when it runs
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FileScheduling(LoadFileScheduling):
        """--dist loadfile, but the files of SAME_WORKER count as one."""

        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return SAME_WORKER.get(Path(file).name, file)

    return FileScheduling(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    slow_files: dict[str, bool] = {}
    for item in items:
        slow_files[item.path.name] = (
            slow_files.get(item.path.name, False) or item.get_closest_marker("slow") is not None
        )

    def rank(item) -> tuple[int, int]:
        name = item.path.name
        if name in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(name)
        return (1 if slow_files[name] else 2), 0

    items.sort(key=rank)  # stable: files keep their own order, and tests theirs within each file
