"""Run folders damaged by hand between resumes, as a careless user would leave them."""
from hostile_helpers import invoke, one_line


def test_a_run_whose_lock_was_deleted_still_refuses_another_seed_grid_or_batch_size(tiny, tmp_path):
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    (tmp_path / "runs" / "tiny" / "recipe.lock.toml").unlink()
    result = invoke("run", tiny, "--out", tmp_path, "--resume", "--set", "seed=5", "--set", "train.grid=3",
                    "--set", "train.batch_size=2", "--set", "train.steps=6")
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr).endswith(
        "--resume: this run trained with seed 0 (now 5), train.batch_size 4 (now 2), train.grid 2 (now 3), as its "
        "checkpoint step-0000004.pt says; resume with them (--set seed=0 --set train.batch_size=4 --set train.grid=2), "
        "or give the new run a name (--set name=...)")
    snapshots = sorted((tmp_path / "runs" / "tiny" / "snapshots").iterdir())
    assert [path.name for path in snapshots][-1] == "step-0000004.png"  # nothing trained with them
    longer = invoke("run", tiny, "--out", tmp_path, "--resume", "--set", "train.steps=6")
    assert longer.exit_code == 0 and "resuming from step 4" in longer.stdout, longer.output


def test_a_run_whose_checkpoints_were_deleted_is_not_trained_over(tiny, tmp_path):
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    run = tmp_path / "runs" / "tiny"
    for path in (run / "checkpoints").iterdir():  # to free disk space, say
        path.unlink()
    metrics = (run / "metrics.jsonl").read_text()
    for resume in ([], ["--resume"]):
        result = invoke("run", tiny, "--out", tmp_path, *resume)
        assert result.exit_code == 2, result.output
        assert one_line(result.stderr) == (
            f"error: {run}: a run with this name exists, trained to step 4, but {run / 'checkpoints'} holds no "
            "checkpoint to continue from (deleted or moved?); put its checkpoints back to --resume, or give the "
            "new run a name (--set name=...)")
    assert (run / "metrics.jsonl").read_text() == metrics  # its history, not a new start's
