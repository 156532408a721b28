"""desktune bench: the config and a recipe people copy today race on the same examples and are judged alike."""

import json

from conftest import example_rows, write_jsonl

from desktune.cli import main


def test_bench_races_desktune_against_the_hf_trainer_full_fine_tune_on_equal_tokens(tiny_models, tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", example_rows(24))
    code = main(["bench", f"model={tiny_models['llama']}", f"data.train={data}", "data.eval=0.25", "--examples", "8",
                 "--against", "hf-full", "--json", "--work", str(tmp_path / "work")])
    assert code == 0
    out = capsys.readouterr().out
    results = json.loads(out[out.index("{"):])
    ours, theirs = results["desktune"], results["hf-full"]
    assert ours["real_tokens"] == theirs["real_tokens"]  # same examples, same template, same tokens
    for r in (ours, theirs):
        assert r["tokens_per_s"] > 0 and 0 < r["mfu"] < 1 and r["peak_memory_gb"] > 0
        assert 0 < r["heldout_loss"] < 20
    assert (tmp_path / "work" / "desktune" / "adapter" / "adapter_config.json").exists()


def test_bench_refuses_an_unknown_recipe(capsys):
    assert main(["bench", "--against", "axolotl"]) == 2
    assert "choose from trl, hf-full" in capsys.readouterr().err


def test_bench_says_why_a_recipe_failed_in_one_line(tiny_models, tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", example_rows(12))
    assert main(["bench", f"model={tiny_models['llama']}", f"data.train={data}", "data.eval=0.25",
                 "lora.targets=nope", "--examples", "4"]) == 2
    err = capsys.readouterr().err
    assert "the desktune recipe failed: lora.targets: no linear layer named nope" in err
    assert "Traceback" not in err


def test_repeated_runs_keep_the_fastest_time_and_the_highest_peak():
    from desktune.cli.bench import fastest

    slow = {"real_tokens": 100, "seconds": 2.0, "peak_memory_gb": 1.5}
    quick = {"real_tokens": 100, "seconds": 1.0, "peak_memory_gb": 1.2}
    assert fastest(fastest(None, slow), quick) == {"real_tokens": 100, "seconds": 1.0, "peak_memory_gb": 1.5}
    assert fastest(quick, slow)["seconds"] == 1.0


def test_bench_runs_each_recipe_at_least_once(capsys):
    assert main(["bench", "--repeat", "0"]) == 2
    assert "--repeat 0" in capsys.readouterr().err
