"""The planner on CUDA against one H100's measurements (the table in benchmarks/README.md, desktune at 35f9c5c), and plans
for a machine one does not have (`plan --device`)."""

import json
from types import SimpleNamespace

import pytest
from conftest import write_jsonl
from transformers import Gemma3TextConfig

from desktune.cli import main
from desktune.cli.train import EXAMPLE
from desktune.config import load_config
from desktune.plan.device import parse_device
from desktune.plan.estimate import GB, Shape
from desktune.train.autoplan import make_plan

# Gemma 3 text configs of the measured shapes (4B and 12B as published; the sliding window as measured)
GEMMA3 = dict(vocab_size=262144, head_dim=256, sliding_window=1024, query_pre_attn_scalar=256)
SHAPES = {"4b": Gemma3TextConfig(hidden_size=2560, intermediate_size=10240, num_hidden_layers=34,
                                 num_attention_heads=8, num_key_value_heads=4, **GEMMA3),
          "12b": Gemma3TextConfig(hidden_size=3840, intermediate_size=15360, num_hidden_layers=48,
                                  num_attention_heads=16, num_key_value_heads=8, **GEMMA3)}
# The measured data: 400 synthetic chats (persona words, user turns of 20-60 words, assistant 100-500), the
# bundled example's config (max_length 512, 10% held out, seed 42); token lengths of the 360 training examples
# as desktune encodes them with Gemma 3's tokenizer and template, in training order of the file.
LENGTHS = [int(n) for n in """
256 512 512 197 402 258 344 260 224 512 405 508 512 512 512 512 359 512 226 512 374 191 423 203 512 355 512 323 512 398
252 296 290 305 318 400 306 512 205 443 512 320 512 318 315 492 277 308 512 512 318 512 512 236 512 302 407 333 442 399
241 256 512 512 201 512 277 331 512 512 352 453 245 512 277 191 219 460 504 223 495 499 512 382 512 512 512 223 509 310
483 512 191 215 427 470 512 348 191 389 302 512 512 412 486 399 512 390 268 512 512 386 327 512 512 450 512 512 231 247
365 302 347 509 373 206 302 235 233 251 244 512 174 512 305 240 512 442 304 512 330 512 486 249 238 512 512 330 512 512
512 347 512 512 512 512 407 512 501 410 435 271 209 463 415 438 512 512 372 238 512 189 334 512 512 433 477 272 307 342
400 216 385 367 426 512 277 372 384 241 303 512 336 512 512 252 268 347 512 399 414 385 271 512 390 512 512 512 477 212
365 426 470 310 512 512 512 512 237 200 456 395 260 512 333 189 214 512 512 385 268 512 491 225 401 509 471 486 512 455
214 512 491 312 512 512 512 512 512 400 234 512 220 512 224 331 512 206 512 512 512 209 512 414 253 417 488 413 188 293
301 219 328 512 378 375 512 360 512 395 190 512 280 438 461 405 512 237 196 274 351 371 448 321 300 388 482 430 512 414
512 512 390 405 349 408 322 512 489 512 512 512 512 478 512 405 512 245 512 512 512 434 341 512 512 512 249 489 237 512
286 364 266 512 431 331 512 512 197 512 290 512 301 512 512 281 449 512 325 357 298 182 315 263 307 313 512 512 335 512
""".split()]
TRAINED = 120278  # assistant tokens among them
# run: (shape, method, overrides, torch.cuda.max_memory_allocated GB); batch 8, 15 steps
MEASURED = {
    "qlora 4B default": ("4b", "qlora", [], 38.85),
    "lora 4B default": ("4b", "lora", [], 33.48),
    "qlora 4B checkpointing": ("4b", "qlora", ["train.gradient_checkpointing=on"], 8.01),
    "qlora 4B low_memory (512-token rows then)": ("4b", "qlora", ["train.low_memory=true",
                                                                  "train.micro_batch_tokens=512"], 6.83),
    "qlora 12B checkpointing": ("12b", "qlora", ["train.gradient_checkpointing=on"], 15.73),
}


def measured_data():
    share = TRAINED / sum(LENGTHS)
    encoded = [SimpleNamespace(ids=[0] * n, trained=[1] * round(n * share)) for n in LENGTHS]
    return [SimpleNamespace(encoded=e, sequences=[e]) for e in encoded]


def plan_measured(name: str, device: str = "H100:80GB"):
    shape, method, overrides, _ = MEASURED[name]
    cfg = load_config(str(EXAMPLE), [f"method={method}", "train.max_steps=15", *overrides])
    return make_plan(cfg, SHAPES[shape], measured_data(), None, "bf16", device=parse_device(device))


def bf16_embedding_saving(name: str) -> float:
    """GB the QLoRA rows no longer hold since the base's embedding stays bf16 (models/methods.py; at 35f9c5c PEFT
    cast it to fp32): 2 bytes an element, on paper until a device measures them again (issue 27). The loss's bf16
    copy of the fp32 head went too; that is within the 20%, and the next measurement will say by how much."""
    shape, method = MEASURED[name][:2]
    return 2 * Shape.from_config(SHAPES[shape]).embedding_params / GB if method == "qlora" else 0.0


@pytest.mark.parametrize("name", MEASURED)
def test_cuda_plan_within_20_percent_of_the_h100_measurement(name):
    planned, used = plan_measured(name).peak / GB, MEASURED[name][3] - bf16_embedding_saving(name)
    assert abs(planned / used - 1) <= 0.20, f"{name}: planned {planned:.2f} GB, used {used:.2f} GB"


def test_low_memory_on_cuda_keeps_long_rows_and_checkpoints():
    # 512-token rows ran at 510 tok/s on the H100 (a sixth of TRL's) for 15% less memory than 4096-token ones
    cfg = load_config(str(EXAMPLE), ["method=qlora", "train.low_memory=true"])
    plan = make_plan(cfg, SHAPES["4b"], measured_data(), None, "bf16", device=parse_device("H100:80GB"))
    assert plan.checkpointing and plan.row_tokens == 4096 and "starve" in plan.row_tokens_why


def test_a_small_gpu_gets_checkpointing_and_shorter_rows_a_big_one_neither():
    def plan(device):
        cfg = load_config(str(EXAMPLE), ["method=qlora"])
        return make_plan(cfg, SHAPES["4b"], measured_data(), None, "bf16", device=parse_device(device))
    big, small = plan("A100:80GB"), plan("RTX 3090:24GB")
    assert not big.checkpointing and big.row_tokens == 4096 and big.fits
    assert small.checkpointing and small.fits and small.peak < 24 * GB
    eight = plan("cuda:8GB")  # with the embedding in bf16, not fp32 (issue 27: 4B QLoRA inside an 8 GB card)
    assert eight.fits and eight.checkpointing and eight.row_tokens == 4096
    tiny = plan("cuda:6GB")
    assert tiny.row_tokens < 4096 and "fits this memory" in tiny.row_tokens_why
    assert tiny.seconds_per_step == 0 and big.seconds_per_step > 0  # time only for a known GPU


def test_faster_gpus_plan_shorter_steps():
    seconds = [plan_measured("qlora 4B checkpointing", d).seconds_per_step for d in ("T4:16GB", "L4:24GB", "H100:80GB")]
    assert seconds[0] > seconds[1] > seconds[2] > 0


@pytest.mark.parametrize("text,kind,usable_gb", [("cuda:8GB", "cuda", 6.75), ("RTX 4060 Ti:8GB", "cuda", 6.75),
                                                 ("mps:16GB", "mps", 11.2), ("cpu:32GB", "cpu", 27.2),
                                                 ("m2 pro:16gb", "mps", 11.2)])
def test_device_profiles(text, kind, usable_gb):
    device = parse_device(text)
    assert device.kind == kind and abs(device.usable / GB - usable_gb) < 0.01


def test_plan_verb_for_a_gpu_from_a_config_only_folder(tmp_path, capsys):
    folder = tmp_path / "gemma-3-4b-shape"
    SHAPES["4b"].save_pretrained(folder)  # config.json alone: no weights, no tokenizer of its own
    from conftest import build_tokenizer
    build_tokenizer().save_pretrained(folder)
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": [{"role": "user", "content": "hi " * 40},
                                                            {"role": "assistant", "content": "ahoy " * 300}]}] * 40)
    assert main(["plan", f"model={folder}", f"data.train={data}", "method=qlora", "--device", "RTX 4090:24GB",
                 "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["device"].startswith("cuda (RTX 4090") and plan["precision"].startswith("bf16")
    assert plan["fits"] and plan["seconds_per_step"] > 0 and 2.5 < plan["memory_gb"]["weights"] < 4


@pytest.mark.parametrize("device", ["GTX 9:8GB", "cuda", "cuda:lots", "cuda:-1GB"])
def test_unknown_or_malformed_device_is_a_clear_error(device, tiny_models, capsys):
    assert main(["plan", f"model={tiny_models['llama']}", "--device", device]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device") and "RTX 4090" in err and "cuda:8GB" in err


def test_qlora_off_cuda_is_refused_with_the_way_to_plan_it(tiny_models, capsys):
    assert main(["plan", f"model={tiny_models['llama']}", "method=qlora", "--device", "mps:16GB"]) == 2
    assert "--device cuda:" in capsys.readouterr().err
