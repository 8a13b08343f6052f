"""The demo pipeline end to end at smoke size (tiny model, few steps): every stage runs and writes its outputs, a rerun
skips what is done, and a demo killed (SIGKILL) twice at seeded moments and rerun ends with what an uninterrupted demo
writes. The uninterrupted run and the killed chain run side by side (one OpenMP thread each), every command in a process
of its own forked from a preloaded server (helpers/killing.py)."""

import json
import random
from pathlib import Path

import pytest

from cbqa.commands.demo import main

from helpers.killing import differing, files, hidden_leftovers, kill_when, stage_rules, start

KILL_SEED = 15


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    """The uninterrupted demo and, meanwhile, a demo killed twice and rerun, each a process of its own (one thread): what
    an earlier test left in this process cannot reach the uninterrupted run."""
    root = tmp_path_factory.mktemp("demo")
    # equal-length parents: paths recorded in binary files then compare byte for byte after replacing the root
    ref, got = root / "a-ref" / "demo", root / "b-kil" / "demo"

    def kill_chain() -> list[tuple[str, str]]:
        rng = random.Random(KILL_SEED)
        kills = []
        for _ in range(2):
            n, delay = rng.randint(2, 9), rng.uniform(0.0, 1.5)
            run = start("demo", "--smoke", "--out", str(got))
            outcome = kill_when(run, lambda: len(stage_rules(run)) >= n, delay)  # noqa: B023 (called within this iteration)
            kills.append((outcome, (stage_rules(run) or ["(start-up)"])[-1]))
        final = start("demo", "--smoke", "--out", str(got))
        assert final.wait() == 0, final.output()[-3000:]
        return kills

    uninterrupted = start("demo", "--smoke", "--out", str(ref))
    kills = kill_chain()
    assert uninterrupted.wait() == 0, uninterrupted.output()[-3000:]
    return {"ref": ref, "got": got, "kills": kills}


@pytest.mark.slow
def test_demo_sigkill_twice_then_rerun_equals_uninterrupted(smoke) -> None:
    ref, got = smoke["ref"], smoke["got"]
    print(f"cbqa demo --smoke kill moments (outcome, stage): {smoke['kills']}")
    assert any(outcome == "killed" for outcome, _ in smoke["kills"])
    # (Lightning checkpoints are compared through the weights they export; a stage's log says what happened to it)
    checkpoints = lambda rel: "/checkpoints/" in f"/{rel}" or rel.startswith("logs/")
    resumed = [
        p
        for p in files(got, checkpoints)
        if p.endswith("summary.json") and p.count("/") == 2 and json.loads((got / p).read_text()).get("resumed_from")
    ]
    print(f"training stages resumed from a checkpoint: {resumed or 'none'}")
    # a training stage resumed mid-run trains on the batches, with the dropout draws, of an uninterrupted one: the same
    # weights bit for bit, so the same predictions and report
    assert differing(ref, got, checkpoints) == []
    directories = [got, *(p for p in got.rglob("*") if p.is_dir() and not p.is_symlink() and ".v-" not in str(p))]
    assert hidden_leftovers(directories) == []


@pytest.mark.slow
def test_demo_smoke_end_to_end_and_resume(smoke, capsys) -> None:
    out = smoke["ref"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["models"]) == {"none", "span_corruption", "ssm"}
    for path in manifest["predictions"].values():
        assert (out / path).exists()
    results = json.loads((out / "report" / "results.json").read_text())
    assert {"closed_book_ssm", "closed_book_none", "nearest_neighbour_tfidf"} <= set(results)
    gold_n = {c: results["closed_book_ssm"][c]["n"] for c in ("question_overlap", "answer_overlap_only", "no_overlap")}
    assert all(n > 0 for n in gold_n.values())
    assert (out / "report" / "results.png").stat().st_size > 0
    assert (out / "models" / "ssm" / "hf" / "config.json").exists()
    stages = json.loads((out / "stages.json").read_text())
    assert all(r["state"] == "done" for r in stages.values()) and "train ssm" in stages

    # A second run finds every stage done (same arguments, same inputs) and only rewrites the report.
    capsys.readouterr()
    assert main(["--smoke", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert (
        "pretrain ssm: already done" in log and "train ssm: already done" in log and "predict ssm: already done" in log
    )
    assert "rerunning" not in log


def test_ssm_recipe_experiment_rows_are_well_formed() -> None:
    """The recipe note's rows come from experiments/ssm_recipe.py: its rows must build and use the demo's SSM."""
    import importlib.util
    import sys

    path = Path(__file__).parents[1] / "experiments" / "ssm_recipe.py"
    spec = importlib.util.spec_from_file_location("ssm_recipe", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["ssm_recipe"] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["ssm_recipe"]
    assert {"ssm_then_mixed", "qa_only", "ssm_alone_linear"} <= set(module.ROWS)
    recipe = module.ROWS["ssm_then_mixed"]
    assert [(s.qa, s.steps, s.lr) for s in recipe] == [(False, 1000, 2e-3), (True, 500, 1e-3)]
    assert all(s.objective == module.VARIANTS["ssm"] for s in recipe)


@pytest.mark.parametrize("fails", [False, True])
def test_stages_that_lanes_share_run_once_and_every_lane_gets_their_result_or_error(fails: bool) -> None:
    """The study's side stages (`Once`): the lane that asks first runs them, a lane that asks meanwhile waits for that
    run instead of starting its own, and a failure reaches every lane without a rerun."""
    import threading

    from cbqa.core.errors import CbqaError
    from cbqa.demo.stages import Once

    calls, results, started = [], [], threading.Event()

    def stages() -> str:
        calls.append(1)
        started.set()
        threading.Event().wait(0.2)  # the other lanes ask while this runs
        if fails:
            raise CbqaError("study stage 'overlap labels' failed")
        return "labels"

    once = Once(stages)

    def lane() -> None:
        try:
            results.append(once())
        except CbqaError as e:
            results.append(str(e))

    first = threading.Thread(target=lane)
    first.start()
    started.wait(5)
    others = [threading.Thread(target=lane) for _ in range(2)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join()
    assert calls == [1]
    assert results == ["study stage 'overlap labels' failed" if fails else "labels"] * 3


def test_a_failed_lane_stops_the_others_at_their_next_stage_and_its_error_is_raised(tmp_path) -> None:
    """A stage failing in one lane sets `stopping`: the other lane's running stage finishes (a training stage is
    stopped instead: `wait_or_stop`), its next stage never starts, and the first failure is the one raised."""
    import threading
    import time

    from cbqa.core.errors import CbqaError
    from cbqa.demo.stages import Stages

    stages, ran = Stages(tmp_path), []
    pretraining, failing_now = threading.Event(), threading.Event()

    def failing() -> None:
        pretraining.wait(10)  # (the other lane's first stage must have started: else it never starts at all)
        stages.run("ner", None, lambda: failing_now.set() or 1)  # (an exit status of 1: the stage failed)

    def pretrain() -> None:
        ran.append("pretrain")
        pretraining.set()
        failing_now.wait(10)  # running while the other lane fails ...
        time.sleep(0.5)  # ... and until that failure has reached the lanes

    def other() -> None:
        stages.run("pretrain ssm", None, pretrain)
        stages.run("train ssm", None, lambda: ran.append("train"))

    with pytest.raises(CbqaError, match="study stage 'ner' failed") as e:
        stages.parallel([failing, other], lanes=2)
    assert type(e.value) is CbqaError and ran == ["pretrain"]
    assert json.loads((tmp_path / "stages.json").read_text())["ner"]["state"] == "running"  # (rerun on the next run)


def test_a_failed_lane_stops_a_command_running_in_the_other_lane_at_its_next_progress_step(tmp_path) -> None:
    """An in-process stage (an index, retrieval, the overlap labels) is stopped at its progress bar's next step rather
    than run to its end; it stays to be rerun, and the failure is the error raised."""
    import threading
    import time

    from cbqa.core.errors import CbqaError
    from cbqa.core.progress import progress_bar
    from cbqa.demo.stages import Stages

    stages, steps = Stages(tmp_path), []
    counting = threading.Event()

    def failing() -> None:
        counting.wait(10)
        stages.run("ner", None, lambda: 1)

    def long_command() -> None:
        with progress_bar("encoding", total=600, enabled=False) as advance:
            for _ in range(600):  # a minute unless stopped
                steps.append(1)
                counting.set()
                time.sleep(0.1)
                advance()

    t0 = time.perf_counter()
    with pytest.raises(CbqaError, match="study stage 'ner' failed") as e:
        stages.parallel([lambda: stages.run("retrieval index", None, long_command), failing], lanes=2)
    assert type(e.value) is CbqaError and time.perf_counter() - t0 < 20 and len(steps) < 200
    assert json.loads((tmp_path / "stages.json").read_text())["retrieval index"]["state"] == "running"


def test_a_stopped_training_child_is_terminated_and_waited_for() -> None:
    import multiprocessing
    import threading
    import time

    from cbqa.demo.stages import wait_or_stop

    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    child.start()
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.perf_counter()
    assert wait_or_stop(child, stop, poll_s=0.1) == -15  # SIGTERM
    assert time.perf_counter() - t0 < 10 and not child.is_alive()
    unstopped = multiprocessing.get_context("fork").Process(target=time.sleep, args=(0.2,))
    unstopped.start()
    assert wait_or_stop(unstopped, threading.Event(), poll_s=0.05) == 0
