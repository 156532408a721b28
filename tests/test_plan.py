"""The planner: memory by part, decisions, advice — and the plan verb."""

import json

import yaml
from conftest import example_rows, write_jsonl
from transformers import LlamaConfig

from desktune.cli import main
from desktune.plan import fit as fit_module
from desktune.plan.estimate import GB, Job, Shape, memory
from desktune.plan.fit import fit

LLAMA_8B = Shape.from_config(LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                                         num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8))


def plan_8b(method: str, kind: str, usable_gb: float, checkpointing="auto"):
    job = Job(method, "bf16", 0, 0.6)
    return fit(LLAMA_8B, job, kind, usable_gb * GB, gflops=100_000, longest=700, tokens_per_step=2000, steps=100,
               checkpointing=checkpointing)


def test_shape_counts_parameters_like_the_model():
    assert abs(LLAMA_8B.params / 8.03e9 - 1) < 0.01  # Llama 3.1 8B


def test_full_fine_tune_of_8b_on_a_laptop_does_not_fit_and_says_what_to_do():
    plan = plan_8b("full", "mps", 24)
    assert not plan.fits and plan.peak > 100 * GB  # ~16 bytes per parameter
    assert any("method=lora" in tip for tip in plan.advice)
    assert any("bigger machine" in tip for tip in plan.advice)


def test_qlora_8b_fits_a_24gb_gpu_and_lora_needs_more():
    assert plan_8b("qlora", "cuda", 22).fits
    lora = plan_8b("lora", "cuda", 22)
    assert lora.parts["weights"] == 2 * LLAMA_8B.params  # the frozen base in bf16, no autocast copies
    assert lora.peak > plan_8b("qlora", "cuda", 22).peak + 8 * GB


def test_auto_row_tokens_short_on_cpu_long_on_cuda_never_below_the_longest_example():
    assert plan_8b("qlora", "cuda", 80).row_tokens == 4096
    assert plan_8b("lora", "cpu", 200).row_tokens == 768  # the longest example (700) padded as rows are
    job = Job("lora", "bf16", 0, 0.6)
    small = fit(LLAMA_8B, job, "cpu", 200 * GB, 1000, 100, 1000, 10)
    assert small.row_tokens == 512


def test_checkpointing_turns_on_only_when_memory_needs_it():
    roomy, tight = plan_8b("qlora", "cuda", 80), plan_8b("qlora", "cuda", 9.5)
    assert not roomy.checkpointing and tight.checkpointing
    assert tight.parts["activations"] < roomy.parts["activations"] / 4
    assert plan_8b("qlora", "cuda", 80, checkpointing="on").checkpointing


def test_memory_grows_with_the_row_and_the_method():
    def total(method, tokens):
        return sum(memory(LLAMA_8B, Job(method, "bf16", tokens, 0.6), "cpu").values())
    assert total("lora", 2048) > total("lora", 512) and total("full", 512) > total("lora", 512) > total("qlora", 512)


def test_plan_verb_reads_config_and_data_without_training(tiny_models, tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", example_rows(20))
    assert main(["plan", f"model={tiny_models['gemma3']}", f"data.train={data}", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["fits"] and plan["peak_memory_gb"] > 0 and plan["seconds_per_step"] > 0
    assert set(plan["memory_gb"]) == {"weights", "adapter", "gradients", "optimizer", "activations", "logits/loss",
                                      "runtime", "heap"}  # heap: on CPU, the blocks the allocator keeps
    assert not (tmp_path / "runs").exists()
    assert plan["steps"] == 18  # 18 examples (2 held out) x the bundled config's 2 epochs in steps of 2 (auto)


def test_a_small_set_takes_smaller_steps_to_get_enough_of_them():
    from desktune.config.schema import TrainConfig
    from desktune.train.autoplan import batch_size

    assert batch_size(TrainConfig(epochs=2), 200)[0] == 8  # 50 steps of 8
    assert batch_size(TrainConfig(epochs=2), 144)[0] == 6  # the bundled example: 48 steps instead of 36
    assert batch_size(TrainConfig(epochs=2), 54) == (2, "auto: 54 examples x 2 epochs make only 14 steps of 8; a "
                                                      "small set needs about 48 updates to learn its answers' form "
                                                      "and end")
    assert batch_size(TrainConfig(epochs=2), 10)[0] == 2  # never below 2
    assert batch_size(TrainConfig(epochs=2, batch_size=8), 54) == (8, "requested")
    assert batch_size(TrainConfig(epochs=2, max_steps=20), 54)[0] == 8


def test_tool_rows_train_in_smaller_steps_for_a_4th_epoch():
    from desktune.config.schema import TrainConfig
    from desktune.data.dataset import Example
    from desktune.config import load_config
    from desktune.train.autoplan import batch_size, epochs, tool_schedule

    assert epochs(TrainConfig(), tools=False) == (3.0, "auto")
    assert epochs(TrainConfig(), tools=True)[0] == 4.0
    assert epochs(TrainConfig(epochs=2), tools=True) == (2.0, "requested")
    assert batch_size(TrainConfig(), 216, tools=True)[0] == 4  # the bundled tool set: 216 steps of 4
    assert batch_size(TrainConfig(), 30, tools=True)[0] == 2  # small sets still take their 48 steps
    assert batch_size(TrainConfig(), 216, tools=False)[0] == 8
    row = lambda tools: Example("f:1", [], None, tools)  # noqa: E731
    most, half = [row([{"name": "f"}])] * 2 + [row(None)], [row([{"name": "f"}]), row(None)]
    assert tool_schedule(load_config(), most) and not tool_schedule(load_config(), half)
    assert not tool_schedule(load_config(None, ["method=full"]), most)  # measured on adapters only


def test_train_writes_the_plan_beside_the_measurement(tiny_models, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", example_rows(20))
    run = tmp_path / "run"
    assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={data}", f"output={run}",
                 "train.max_steps=2", "--samples=0"]) == 0
    plan = json.loads((run / "plan.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["planned_peak_memory_gb"] == plan["peak_memory_gb"]
    assert "planned" in (run / "report.md").read_text()
    assert f"micro_batch_tokens: {plan['micro_batch_tokens']}" in (run / "config.yaml").read_text()


def test_gradient_checkpointing_recomputes_without_changing_the_losses(tiny_models, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", example_rows(20))
    losses = {}
    for mode in ("on", "off"):
        run = tmp_path / mode
        assert main(["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={run}",
                     "train.max_steps=3", "train.precision=fp32", "lora.dropout=0", f"train.gradient_checkpointing={mode}",
                     "train.eval_samples=0", "--samples=0"]) == 0
        losses[mode] = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert yaml.safe_load((run / "config.yaml").read_text())["train"]["gradient_checkpointing"] == mode
    assert max(abs(a - b) for a, b in zip(losses["on"], losses["off"])) < 1e-5


def test_low_memory_takes_short_rows_and_checkpointing_but_explicit_values_win():
    low = fit(LLAMA_8B, Job("lora", "bf16", 0, 0.6), "cpu", 200 * GB, 1000, 100, 1000, 10, low_memory=True)
    fast = fit(LLAMA_8B, Job("lora", "bf16", 0, 0.6), "cpu", 200 * GB, 1000, 100, 1000, 10)
    assert (low.row_tokens, low.checkpointing, fast.row_tokens, fast.checkpointing) == (256, True, 512, False)
    assert sum(low.parts.values()) < sum(fast.parts.values())  # training only; loading the base is the same
    assert "low_memory" in low.row_tokens_why + low.checkpointing_why
    chosen = fit(LLAMA_8B, Job("lora", "bf16", 0, 0.6), "cpu", 200 * GB, 1000, 100, 1000, 10, row_tokens=1024,
                 checkpointing="off", low_memory=True)
    assert (chosen.row_tokens, chosen.checkpointing) == (1024, False)


def test_loading_the_base_can_be_the_peak_on_cpu_but_not_in_gpu_memory():
    cpu = fit(LLAMA_8B, Job("lora", "bf16", 0, 0.6), "cpu", 200 * GB, 1000, 100, 1000, 10, low_memory=True)
    assert cpu.peak == cpu.loading > sum(cpu.parts.values())  # fp32 checkpoint mapped + the bf16 copy
    assert plan_8b("lora", "cuda", 80).loading == 0


def test_fsdp_splits_a_full_fine_tune_over_the_processes():
    whole = fit(LLAMA_8B, Job("full", "bf16", 0, 0.6), "cuda", 80 * GB, 1000, 100, 1000, 10)
    sharded = fit(LLAMA_8B, Job("full", "bf16", 0, 0.6, shards=8), "cuda", 80 * GB, 1000, 100, 1000, 10)
    assert not whole.fits and sharded.fits  # ~16 bytes per parameter over 8 GPUs
    assert sharded.parts["optimizer"] == whole.parts["optimizer"] / 8
    assert any("train.fsdp=true" in tip for tip in whole.advice)


def test_plan_for_one_of_n_sharded_processes(tiny_models, tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", example_rows(20))
    base = [f"model={tiny_models['llama']}", f"data.train={data}", "method=full", "train.fsdp=true", "--json"]
    plans = []
    for n in ("1", "4"):
        assert main(["plan", *base, "--processes", n]) == 0
        plans.append(json.loads(capsys.readouterr().out)["memory_gb"])
    assert plans[1]["optimizer"] < plans[0]["optimizer"] / 3.5
    assert main(["plan", *base, "--processes", "0"]) == 2


TINY = Shape.from_config(LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2))


def test_long_rows_on_cpu_pay_for_their_attention_matrix(monkeypatch):

    def longer_rows_cost() -> float:  # 4096 tokens a step in 2 rows of 2048 rather than 8 of 512
        def step(row_tokens):
            return fit(TINY, Job("lora", "bf16", 0, 0.6), "cpu", 10 * GB, 1000, 100, 4096, 10,
                       row_tokens=row_tokens).seconds_per_step
        return step(2048) - step(512)
    with_matrix = longer_rows_cost()
    monkeypatch.setitem(fit_module.MATRIX_ELEMENT_SECONDS, "cpu", 0.0)
    # (2 x 2048^2 - 8 x 512^2) elements x 2 layers x 4 heads x 3 passes x 0.52 ns: softmax and mask, not matmuls
    assert abs(with_matrix - longer_rows_cost() - 0.0785) < 0.001


def test_only_mps_keeps_the_attention_matrix_for_backward():
    """CPU's flash kernel saves q, k, v, the output and the mask; MPS's attention keeps the probabilities."""

    def activations(kind: str) -> float:
        plan = fit(TINY, Job("lora", "fp32", 0, 0.6), kind, 10 * GB, 1000, 100, 4096, 10, row_tokens=2048)
        return plan.parts["activations"]
    assert activations("mps") - activations("cpu") == 2 * 4 * 2048**2 * 4  # layers x heads x T^2 x fp32


def library_desk_plan(tiny_models, tmp_path, *overrides, gflops=100.0, prompt_repeats=4, model_config=None):
    """A plan maker for 20 short chats under one long system prompt (on a 16 GB CPU profile), for the tiny
    llama or another model's config."""
    from desktune.config.load import load_config
    from desktune.data.dataset import load_examples
    from desktune.data.template import ChatFormat
    from desktune.models.load import load_model_config, load_tokenizer, resolve
    from desktune.plan.device import DeviceProfile
    from desktune.train.autoplan import make_plan

    source = resolve(str(tiny_models["llama"]))
    system = {"role": "system", "content": "You answer for the town library's help desk, politely and briefly. " * prompt_repeats}
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": [system, *r["messages"]]} for r in example_rows(20)])
    cfg = load_config(None, list(overrides))
    examples, _ = load_examples(str(data), ChatFormat(load_tokenizer(source), "auto", "llama"), cfg.data)
    device = DeviceProfile("cpu", "test", 16 * GB, gflops, False)
    model_config = model_config or load_model_config(source)
    return cfg, examples, lambda: make_plan(cfg, model_config, examples, None, "fp32", device=device)


def test_a_prefix_the_rows_hold_once_is_planned_once(tiny_models, tmp_path, monkeypatch):
    from desktune.data import pack
    from desktune.data.schedule import Schedule
    from desktune.train.autoplan import computed_share

    cfg, examples, plan = library_desk_plan(tiny_models, tmp_path, "train.batch_size=4", "train.micro_batch_tokens=4096")
    # four examples a row, the system prompt most of each: the rows compute well under their examples' tokens
    assert computed_share(examples, Schedule(len(examples), 4, cfg.train.seed), 4, 4096) < 0.7
    once = plan()
    monkeypatch.setattr(pack, "MIN_SHARED", 1 << 30)  # the prompt repeated in every example
    repeated = plan()
    assert once.seconds_per_step < repeated.seconds_per_step
    assert once.row_tokens == repeated.row_tokens and once.parts["activations"] == repeated.parts["activations"]


def test_auto_rows_grow_on_cpu_where_they_hold_a_shared_prefix_once(tiny_models, tmp_path, monkeypatch):
    from transformers import Gemma3TextConfig

    from desktune.data import pack

    builtin = Gemma3TextConfig(hidden_size=640, intermediate_size=2048, num_hidden_layers=18, num_attention_heads=4,
                               num_key_value_heads=1, head_dim=256, vocab_size=262144, sliding_window=512)

    def plan(*overrides, model_config=builtin):  # a system prompt of ~600 tokens in examples of ~700-800
        return library_desk_plan(tiny_models, tmp_path, "train.batch_size=8", *overrides, prompt_repeats=16,
                                 model_config=model_config)[2]()
    shared = plan()
    assert shared.row_tokens == 2048 and "hold their shared start once a row" in shared.row_tokens_why
    assert shared.seconds_per_step < plan("train.micro_batch_tokens=896").seconds_per_step
    assert shared.seconds_per_step < plan("train.micro_batch_tokens=4096").seconds_per_step
    # a tiny model's attention outweighs its matmuls: long rows cost more than the prefix saves
    assert plan(model_config=None).row_tokens < 2048
    monkeypatch.setattr(pack, "MIN_SHARED", 1 << 30)  # nothing shared: the short row
    repeated = plan()
    assert repeated.row_tokens == 896 and "short rows are faster" in repeated.row_tokens_why


def test_fp32_on_a_cpu_with_avx512_reaches_more_of_its_probed_peak():
    """Only the compute term changes: the same probe, the same job, a shorter step where the CPU has AVX-512."""
    def step(avx512: bool, precision: str) -> float:
        return fit(LLAMA_8B, Job("lora", precision, 0, 0.6), "cpu", 200 * GB, 1000, 100, 1000, 10,
                   avx512=avx512).seconds_per_step

    assert step(True, "fp32") < step(False, "fp32")
    assert step(True, "bf16") == step(False, "bf16")


def test_each_adapted_layer_costs_a_cpu_step_its_calls_per_row(monkeypatch):
    """PEFT's per-call work: 5 more adapted linears a layer (all-linear against q_proj,v_proj) over 8 rows; nothing
    for a full fine-tune, nothing on CUDA (its per-layer cost is LAYER_PASS_SECONDS)."""
    def step(method: str, targets: tuple, kind: str = "cpu") -> float:
        return fit(TINY, Job(method, "bf16", 0, 0.6, lora_targets=targets), kind, 10 * GB, 1000, 100, 4096, 10,
                   row_tokens=512).seconds_per_step

    def extra_for_all_linear() -> float:
        return step("lora", ()) - step("lora", ("q_proj", "v_proj"))
    with_calls, full, cuda = extra_for_all_linear(), step("full", ()), step("lora", (), "cuda")
    monkeypatch.setitem(fit_module.LORA_MODULE_SECONDS, "cpu", 0.0)
    assert abs(with_calls - extra_for_all_linear() - 8 * 5 * TINY.layers * 0.4e-3) < 1e-9
    assert step("full", ()) == full and step("lora", (), "cuda") == cuda


def test_a_full_fine_tune_in_bf16_casts_its_fp32_weights_for_every_row():
    casts = fit_module._weight_casts
    assert casts(TINY, Job("full", "bf16", 512, 0.6), "cpu", 8) == 8 * TINY.params * 16 / 8e9
    assert casts(TINY, Job("full", "bf16", 512, 0.6, shards=2), "cpu", 8) == 4 * TINY.params * 16 / 8e9
    assert casts(TINY, Job("full", "fp32", 512, 0.6), "cpu", 8) == 0
    assert casts(TINY, Job("lora", "bf16", 512, 0.6), "cpu", 8) == 0
