"""desktune export: GGUF files that an independent llama.cpp runtime (cyllama) runs like transformers does."""

import json

import gguf
import pytest
import torch
from conftest import ARCHS, example_rows, write_jsonl

from desktune.cli import main

TEMPLATE_MARK = {"llama": "<|start_header_id|>", "qwen2": "<|im_start|>", "gemma3": "<start_of_turn>"}


@pytest.fixture(scope="module")
def tuned(tiny_models, tmp_path_factory):
    """arch -> a run trained long enough that greedy choices are not coin flips between near-equal logits."""
    folder = tmp_path_factory.mktemp("export")
    data = write_jsonl(folder / "d.jsonl", example_rows(80))
    runs = {}
    for arch in ARCHS:
        runs[arch] = folder / arch
        assert main(["train", f"model={tiny_models[arch]}", f"data.train={data}", f"output={runs[arch]}",
                     "train.max_steps=40", "train.lr=1e-2", "train.batch_size=8", "train.eval_every=40",
                     "lora.r=8", "train.micro_batch_tokens=256", "train.eval_samples=0", "--samples=0"]) == 0
    return runs


@pytest.mark.parametrize("arch", ARCHS)
def test_llama_cpp_continues_like_transformers(tuned, tiny_models, arch):
    # q8_0 may part anywhere, but only at near-ties (what `passed` checks): trained in bf16 on a CPU that has it,
    # the tiny llama's answers were loops whose every step was one (margins of 0.001), 1 of 5 identical throughout
    for quant, full in [("f16", 4), ("q8_0", 0)]:
        out = tuned[arch] / f"gguf-{quant}"
        assert main(["export", str(tuned[arch]), "--quant", quant, "--out", str(out)]) == 0
        check = json.loads((out / "verify.json").read_text())
        assert check["passed"] and check["full_matches"] >= full and check["same_tokenization"] == 5
        if quant == "f16":
            assert check["head_matches"] == 5
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(tuned[arch] / "gguf-q8_0" / "model-q8_0.gguf").tensors}
    tied = json.loads((tiny_models[arch] / "config.json").read_text()).get("tie_word_embeddings", False)
    # a head shared with the token embedding stays f16 (rounded to q8_0 it changed a full fine-tune's answers)
    assert types["token_embd.weight"] == (gguf.GGMLQuantizationType.F16 if tied else gguf.GGMLQuantizationType.Q8_0)
    assert types["blk.0.ffn_down.weight"] == gguf.GGMLQuantizationType.Q8_0
    reader = gguf.GGUFReader(tuned[arch] / "gguf-f16" / "model-f16.gguf")
    assert TEMPLATE_MARK[arch] in reader.fields["tokenizer.chat_template"].contents()
    modelfile = (tuned[arch] / "gguf-f16" / "Modelfile").read_text()
    assert "FROM ./model-f16.gguf" in modelfile and TEMPLATE_MARK[arch] in modelfile
    stops = [line.split('"')[1] for line in modelfile.splitlines() if line.startswith("PARAMETER stop")]
    assert {"<|im_end|>", "<|eot_id|>", "<eos>"} <= set(stops)  # every end token of the vocabulary, not only the template's


# transformers' own GGUF reader is a second, independent reader. (Not for the tiny Gemma 3: its reader assumes
# query_pre_attn_scalar=256, which only real Gemma 3 checkpoints have; the e2e test reads the real one.)
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_transformers_reads_the_gguf_back(tuned, arch):
    from transformers import AutoModelForCausalLM

    from desktune.infer.generate import load_for_chat

    out = tuned[arch] / "gguf-read"
    assert main(["export", str(tuned[arch]), "--out", str(out), "--no-verify"]) == 0
    read = AutoModelForCausalLM.from_pretrained(out, gguf_file="model-f16.gguf", dtype=torch.float32).eval()
    model, chat = load_for_chat(str(tuned[arch]))
    ids = torch.tensor([chat.prompt_ids([{"role": "user", "content": "Hello, who are you?"}])])
    with torch.no_grad():
        ours, theirs = model.merge_and_unload()(ids).logits, read(ids).logits
    torch.testing.assert_close(theirs, ours, atol=5e-3, rtol=5e-3)  # f16 weights


def test_q4_k_m_comes_from_llama_cpps_quantizer(tuned):
    out = tuned["llama"] / "gguf-q4"
    assert main(["export", str(tuned["llama"]), "--quant", "q4_k_m", "--out", str(out)]) == 0
    reader = gguf.GGUFReader(out / "model-q4_k_m.gguf")
    kinds = {t.tensor_type.name for t in reader.tensors}
    assert "Q4_K" in kinds or "Q5_0" in kinds or "Q6_K" in kinds
    assert not (out / ".f16.gguf").exists()


def test_a_k_quant_may_flip_near_tied_first_tokens_but_not_sure_ones():
    from desktune.export.verify import Check

    # a tiny random model's logits are nearly flat: on a CPU without AVX-512, q4_k_m parted from transformers in
    # the first 5 tokens of 3 prompts where its top-2 logits differed by 0.001, 0.025 and 0.0
    assert Check("q4_k_m", head_matches=2, head_near_ties=3, same_tokenization=5).passed
    assert not Check("q4_k_m", head_matches=2, head_near_ties=0, same_tokenization=5).passed


def test_unknown_architecture_names_the_supported_ones(tmp_path, capsys):
    from conftest import build_tokenizer
    from transformers import AutoModelForCausalLM, MistralConfig

    tokenizer = build_tokenizer()
    config = MistralConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "mistral")
    tokenizer.save_pretrained(tmp_path / "mistral")
    assert main(["export", str(tmp_path / "mistral"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "model type 'mistral'" in err and "llama, qwen2, gemma3_text" in err
    assert not (tmp_path / "out").exists()


def test_a_run_without_adapter_is_refused(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("model: x\n")
    assert main(["export", str(tmp_path / "run")]) == 2
    assert "adapter" in capsys.readouterr().err


def test_an_existing_output_folder_is_kept_without_overwrite(tuned, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    assert main(["export", str(tuned["qwen2"]), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "mine"


def test_llama_3_1_rope_scaling_travels_as_rope_freqs(tmp_path):
    """Llama 3.1+ scale RoPE per frequency band; without the rope_freqs tensor llama.cpp parts from transformers."""
    from conftest import build_tokenizer
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = build_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=131072,
                         pad_token_id=0, eos_token_id=1, bos_token_id=2,
                         rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                          "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                          "original_max_position_embeddings": 8192})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # sharper logits than a fresh init, so greedy choices are not coin flips
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(4)
    model.save_pretrained(tmp_path / "l3")
    tokenizer.save_pretrained(tmp_path / "l3")
    assert main(["export", str(tmp_path / "l3"), "--out", str(tmp_path / "gguf")]) == 0
    assert "rope_freqs.weight" in {t.name for t in gguf.GGUFReader(tmp_path / "gguf" / "model-f16.gguf").tensors}
    assert json.loads((tmp_path / "gguf" / "verify.json").read_text())["full_matches"] == 5
