"""method=full and DoRA train, save, reload, evaluate and export on CPU; QLoRA is refused off CUDA."""

import json
import shutil

import pytest
import torch
from conftest import example_rows, write_jsonl
from safetensors.torch import load_file

from desktune.cli import main
from desktune.runs import RunDir

TINY = ["train.lr=1e-3", "train.batch_size=8", "train.micro_batch_tokens=256", "train.eval_samples=0", "--samples=0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("methods") / "d.jsonl", example_rows(48))


@pytest.fixture(scope="module")
def full_run(tiny_models, data, tmp_path_factory):
    run = tmp_path_factory.mktemp("full") / "run"
    assert main(["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={run}", "method=full",
                 "train.max_steps=6", "train.save_every=3", "train.eval_every=3", *TINY]) == 0
    return run


def test_full_fine_tune_saves_a_whole_model_that_loads_plainly(full_run, tiny_models):
    from transformers import AutoModelForCausalLM

    summary = json.loads(RunDir(full_run).summary.read_text())
    assert summary["loss_end"] < summary["loss_start"] and summary["method"] == "full"
    assert not (full_run / "adapter").exists()
    tuned = AutoModelForCausalLM.from_pretrained(full_run / "model", dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(tiny_models["llama"], dtype=torch.float32)
    changed = [n for n, p in tuned.named_parameters() if not torch.equal(p, base.get_parameter(n))]
    assert len(changed) == len(list(base.parameters()))  # every weight trained, not only some


def test_full_run_evaluates_against_its_base_and_exports(full_run, capsys):
    assert main(["eval", str(full_run), "--samples", "1", "--max-new-tokens", "6"]) == 0
    result = json.loads((full_run / "eval.json").read_text())
    assert result["held_out"]["tuned"]["loss"] < result["held_out"]["base"]["loss"]
    assert main(["generate", str(full_run), "--prompt", "Hello", "--max-new-tokens", "4"]) == 0
    assert main(["export", str(full_run), "--out", str(full_run / "gguf")]) == 0
    assert json.loads((full_run / "gguf" / "verify.json").read_text())["passed"]
    capsys.readouterr()
    assert main(["merge", str(full_run)]) == 2
    assert "full fine-tune" in capsys.readouterr().err


def test_a_full_runs_base_takes_the_tuned_weights_place_and_gives_them_back(tiny_models, data, tmp_path):
    """The base is put in place of the tuned weights (no copy of them is made), tied head included (Gemma), its
    embedding grown by the token the run added."""
    from transformers import AutoModelForCausalLM

    from desktune.infer.generate import base_model, load_run

    run = tmp_path / "run"
    assert main(["train", f"model={tiny_models['gemma3']}", f"data.train={data}", f"output={run}", "method=full",
                 "new_tokens=<quill>", "train.max_steps=2", "train.eval_every=0", *TINY]) == 0
    model, chat = load_run(RunDir(run))
    base = AutoModelForCausalLM.from_pretrained(tiny_models["gemma3"], dtype=torch.float32).eval()
    ids = torch.tensor([chat.prompt_ids([{"role": "user", "content": "Hello there"}])])
    tuned_at = {n: p.data_ptr() for n, p in model.named_parameters()}
    with torch.no_grad():
        tuned = model(ids).logits
        with base_model(model, str(tiny_models["gemma3"])):
            assert not set(tuned_at.values()) & {p.data_ptr() for p in model.parameters()}
            assert model.lm_head.weight is model.get_input_embeddings().weight
            vocab = base.config.vocab_size  # the added token's row comes after the base's
            assert model(ids).logits.shape[-1] == vocab + 1
            torch.testing.assert_close(model(ids).logits[..., :vocab], base(ids).logits)
        assert {n: p.data_ptr() for n, p in model.named_parameters()} == tuned_at
        assert torch.equal(model(ids).logits, tuned)


def test_full_run_resumes_weights_and_optimizer_exactly(full_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(full_run, copy)
    for later in ["checkpoints/step-000006", "checkpoints/best", "model", "summary.json"]:
        shutil.rmtree(copy / later) if (copy / later).is_dir() else (copy / later).unlink()
    # the resolved config of the run, moved: only `output` differs
    assert main(["train", str(copy / "config.yaml"), f"output={copy}", "--resume", "--allow-changes",
                 "--samples=0"]) == 0
    before, after = load_file(full_run / "model" / "model.safetensors"), load_file(copy / "model" / "model.safetensors")
    for name, tensor in before.items():
        torch.testing.assert_close(after[name], tensor, atol=1e-6, rtol=0)


def test_dora_trains_and_merges_exactly(tiny_models, data, tmp_path):
    from desktune.export.merge import merge
    from desktune.infer.generate import load_run

    run = tmp_path / "dora"
    assert main(["train", f"model={tiny_models['qwen2']}", f"data.train={data}", f"output={run}", "lora.dora=true",
                 "train.max_steps=6", "train.lr=1e-2", *TINY[1:]]) == 0
    assert json.loads((run / "adapter" / "adapter_config.json").read_text())["use_dora"]
    summary = json.loads(RunDir(run).summary.read_text())
    assert summary["loss_end"] < summary["loss_start"]
    model, chat = load_run(RunDir(run))
    ids = torch.tensor([chat.prompt_ids([{"role": "user", "content": "Hello there"}])])
    with torch.no_grad():
        with_adapter = model(ids).logits
        merged = model.merge_and_unload()(ids).logits
    torch.testing.assert_close(merged, with_adapter, atol=1e-4, rtol=0)
    assert merge(RunDir(run), tmp_path / "merged").exists()


def test_qlora_is_refused_off_cuda_before_anything_is_written(tiny_models, data, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={tmp_path / 'q'}",
                 "method=qlora"]) == 2
    err = capsys.readouterr().err
    assert "method=qlora needs an NVIDIA GPU" in err and "method=lora" in err
    assert not (tmp_path / "q").exists()


def test_lora_in_bf16_stores_the_frozen_base_in_bf16_and_loses_nothing(tiny_models, data):
    """Matrices of the frozen base in bf16 (what autocast casts them to anyway); norms, the adapter and the
    residual stream stay fp32; the loss matches fp32 weights under autocast."""
    from desktune.config.schema import DataConfig, LoraConfig
    from desktune.data.dataset import load_examples
    from desktune.data.pack import pack
    from desktune.data.template import ChatFormat
    from desktune.models.load import load_model, load_tokenizer, resolve
    from desktune.models.methods import prepare
    from desktune.train.forward import row_loss_sum

    source = resolve(str(tiny_models["gemma3"]))
    chat = ChatFormat(load_tokenizer(source), "gemma", "gemma3_text")
    row = pack([e.encoded for e in load_examples(str(data), chat, DataConfig())[0][:6]], 512)[0]
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = prepare(load_model(source), "lora", LoraConfig(), precision)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            losses[precision] = row_loss_sum(model, row, "cpu")[0].item()
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert dtypes["base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"] == torch.bfloat16
    assert dtypes["base_model.model.model.embed_tokens.weight"] == torch.bfloat16
    assert dtypes["base_model.model.model.layers.0.input_layernorm.weight"] == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    assert model.get_input_embeddings()(row.input_ids).dtype == torch.float32
    assert abs(losses["bf16"] / losses["fp32"] - 1) < 2e-3


@pytest.mark.parametrize("arch", ["llama", "gemma3"])  # untied and tied output embeddings
def test_new_tokens_are_added_trained_and_survive_reload_merge_and_export(arch, tiny_models, tmp_path):
    from desktune.export.gguf_export import export_gguf
    from desktune.infer.generate import Sampling, generate, load_run

    rows = example_rows(48)
    for row in rows:
        row["messages"][-1]["content"] = "<quill> " + row["messages"][-1]["content"]
    data, run = write_jsonl(tmp_path / "d.jsonl", rows), tmp_path / "run"
    assert main(["train", f"model={tiny_models[arch]}", f"data.train={data}", f"output={run}", "new_tokens=<quill>",
                 "train.max_steps=25", "train.lr=5e-3", "train.eval_every=0", *TINY[1:]]) == 0
    adapter = load_file(run / "adapter" / "adapter_model.safetensors")
    assert any("trainable_tokens" in k for k in adapter)
    assert not any("embed_tokens.weight" in k or "lm_head.weight" in k for k in adapter)  # only the trained rows
    model, chat = load_run(RunDir(run))
    quill = chat.tokenizer.convert_tokens_to_ids("<quill>")
    assert quill == len(chat.tokenizer) - 1 and chat.tokenizer.tokenize("a <quill> b").count("<quill>") == 1
    reply = generate(model, chat, [{"role": "user", "content": "What is a comet?"}], Sampling(max_new_tokens=3))
    assert reply.text.startswith("<quill>")  # learnt to open with the new token, and decoding shows it
    export_gguf(str(run), tmp_path / "export", "f16")  # raises unless llama.cpp agrees with transformers


@pytest.mark.parametrize("method,words,lr", [("lora", 1, 1e-4), ("lora", 400, 2e-4), ("full", 1, 2e-5)])
def test_auto_learning_rate_is_gentler_for_a_full_fine_tune_and_short_answers(method, words, lr, tiny_models,
                                                                              tmp_path):
    import yaml

    rows = [{"messages": [{"role": "user", "content": f"Question {i}?"},
                          {"role": "assistant", "content": " ".join(["word"] * words)}]} for i in range(20)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    run = tmp_path / method
    assert main(["train", f"model={tiny_models['llama']}", f"data.train={data}", f"output={run}", f"method={method}",
                 "train.max_steps=1", *TINY[1:], "train.micro_batch_tokens=1024"]) == 0
    config = (run / "config.yaml").read_text()
    assert yaml.safe_load(config)["train"]["lr"] == lr and "# lr: " in config and "auto" in config


@pytest.mark.parametrize("arch", ["gemma3", "llama"])  # tied and untied output layers
def test_trained_token_rows_give_the_trained_model_under_plain_peft_merged_or_not(arch, tiny_models, tmp_path):
    """Untied: the rows are saved as LoRA, which plain PEFT runs without its vocab x hidden copy. Tied: PEFT's own
    trainable-tokens form, the one that plain PEFT's merge_and_unload gets right (peft#2777)."""
    from peft import PeftModel

    from desktune.config.schema import LoraConfig
    from desktune.models.adapters import add_lora, load_adapter, save_tuned_weights
    from desktune.models.load import load_model, resolve
    from desktune.models.untrained import trained_rows

    source = resolve(str(tiny_models[arch]))
    trained = add_lora(load_model(source), LoraConfig(), token_ids=[6, 7])
    with torch.no_grad():  # as training leaves them: LoRA and the two rows moved
        for p in trained.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    save_tuned_weights(trained.eval(), tmp_path / "adapter")
    save_tuned_weights(trained, tmp_path / "checkpoint", rows_as_lora=False)
    saved = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    as_lora = arch == "llama"
    assert any("trainable_tokens" in k for k in saved) != as_lora and any("lora_embedding_A" in k for k in saved) == as_lora
    assert any("trainable_tokens" in k for k in load_file(tmp_path / "checkpoint" / "adapter_model.safetensors"))
    ids = torch.tensor([[1, 6, 9, 7, 6, 12]])
    with torch.no_grad():
        want = trained(ids).logits
        plain = PeftModel.from_pretrained(load_model(source), tmp_path / "adapter").eval()
        assert any("token_adapter" in n for n, _ in plain.named_modules()) != as_lora
        for folder in ("adapter", "checkpoint"):  # the saved form, and the checkpoints' one desktune resumes from
            ours = load_adapter(load_model(source), str(tmp_path / folder)).eval()
            assert trained_rows(ours) == {6, 7}  # answers do not count these as never-learned tokens
            assert torch.allclose(ours(ids).logits, want, atol=1e-5)
            assert torch.allclose(ours.merge_and_unload()(ids).logits, want, atol=1e-5)  # desktune merge, export
        assert torch.allclose(plain(ids).logits, want, atol=1e-5)
        assert torch.allclose(plain.merge_and_unload()(ids).logits, want, atol=1e-5)  # what people do to ship it


@pytest.mark.parametrize("arch", ["llama", "gemma3"])  # a head of its own; one tied to the embedding, token rows
def test_generation_never_copies_a_frozen_head(tiny_models, arch):
    """A LoRA base in bf16 under autocast: the prompt's last position reaches the vocabulary projection as a strided
    slice, which matmul would answer with bmm over a copy of the whole transposed matrix."""
    from torch.profiler import ProfilerActivity, profile

    from desktune.config.schema import LoraConfig
    from desktune.models.load import load_model, resolve
    from desktune.models.methods import prepare

    model = prepare(load_model(resolve(str(tiny_models[arch]))), "lora", LoraConfig(r=4, alpha=8), "bf16",
                    [3] if arch == "gemma3" else []).eval()
    head = model.get_output_embeddings()
    matrix = [model.config.hidden_size, model.config.vocab_size]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as seen:
            out = model.generate(input_ids=torch.arange(5, 17)[None], max_new_tokens=3, do_sample=False)
        strided = torch.randn(1, 9, model.config.hidden_size)[:, -1:]
        assert torch.equal(head(strided), head(strided.clone(memory_format=torch.contiguous_format)))
    copies = [e for e in seen.events() if e.name == "aten::bmm" and any(s[-2:] == matrix for s in e.input_shapes if s)]
    assert out.shape[1] == 15 and not copies
