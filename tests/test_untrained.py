"""Tokens a base never learned: found from the rows, trained by default, and answers then stop by themselves."""

import pytest
import torch
import yaml

from conftest import example_rows, write_jsonl
from desktune.cli import main
from desktune.infer.generate import Sampling, generate, load_run
from desktune.models.load import load_model, load_tokenizer, resolve
from desktune.models.untrained import untrained_in_answer, untrained_in_folder, untrained_in_model
from desktune.runs import RunDir

TINY = ["train.micro_batch_tokens=256", "train.eval_every=0", "train.save_every=0", "train.eval_samples=0"]


def plant_untrained(folder, tmp_path, zero: str | None = None):
    """A copy of a tiny model whose <start_of_turn>, <end_of_turn> and 64 other rows collapsed into one
    cluster, as never-seen rows do in pretraining (input and output rows), and one row that is zero."""
    tokenizer = load_tokenizer(resolve(str(folder)))
    model = load_model(resolve(str(folder)))
    generator = torch.Generator().manual_seed(1)
    cluster = [tokenizer.convert_tokens_to_ids(t) for t in ("<start_of_turn>", "<end_of_turn>")] + list(range(300, 364))
    for matrix in {model.get_input_embeddings().weight, model.get_output_embeddings().weight}:
        scale = matrix.norm(dim=1).median() / matrix.shape[1] ** 0.5  # rows as long as the learned ones
        centre = torch.randn(matrix.shape[1], generator=generator)
        with torch.no_grad():
            for i in cluster:
                matrix[i] = scale * (centre + 0.05 * torch.randn(centre.shape, generator=generator))
            if zero:
                matrix[tokenizer.convert_tokens_to_ids(zero)] = 0
    out = tmp_path / "planted"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_the_rule_finds_clustered_and_zero_rows_and_leaves_learned_ones(tiny_models, tmp_path):
    folder = plant_untrained(tiny_models["llama"], tmp_path, zero="<|eot_id|>")
    tokenizer = load_tokenizer(resolve(str(folder)))
    ids = tokenizer.convert_tokens_to_ids(["<end_of_turn>", "<start_of_turn>", "<|eot_id|>", "<eos>", "<|im_end|>"])
    expected = sorted(ids[:3])
    assert untrained_in_model(load_model(resolve(str(folder))), ids) == expected
    assert untrained_in_folder(str(folder), ids) == expected  # the same from the checkpoint alone (data check, plan)
    untouched = load_model(resolve(str(tiny_models["llama"])))
    assert untrained_in_model(untouched, ids) == []  # a base whose markers are learned is left alone


def test_untied_head_rows_count_too(tiny_models, tmp_path):
    model = load_model(resolve(str(tiny_models["llama"])))
    eot = load_tokenizer(resolve(str(tiny_models["llama"]))).convert_tokens_to_ids("<end_of_turn>")
    with torch.no_grad():
        model.get_output_embeddings().weight[eot] = 0
    assert untrained_in_model(model, [eot]) == [eot]


def end_of_turn_data(tmp_path):
    rows = example_rows(64)
    for row in rows:
        row["messages"][-1]["content"] = "Ahoy. Fair winds!"
    return write_jsonl(tmp_path / "short.jsonl", rows)


@pytest.mark.parametrize("setting", ["auto", "off"])
def test_untrained_end_of_turn_trains_by_default_so_answers_stop(setting, tiny_models, tmp_path):
    folder, data, run = plant_untrained(tiny_models["llama"], tmp_path), end_of_turn_data(tmp_path), tmp_path / "run"
    assert main(["train", f"model={folder}", f"data.train={data}", f"output={run}", f"untrained_tokens={setting}",
                 "data.template=gemma", "train.max_steps=30", "train.lr=3e-3", *TINY]) == 0
    config = (run / "config.yaml").read_text()
    assert yaml.safe_load(config)["untrained_tokens"] == setting
    model, chat = load_run(RunDir(run))
    replies = [generate(model, chat, [{"role": "user", "content": q}], Sampling(max_new_tokens=24))
               for q in ("What is a comet?", "How do I boil an egg?", "Why is the sea salty?")]
    if setting == "auto":
        assert "# untrained_tokens: auto: <start_of_turn>, <end_of_turn> never learned" in config
        assert all(r.finished for r in replies), [r.text for r in replies]
    else:
        assert "# untrained_tokens: off" in config
        assert not any(r.finished for r in replies)  # the frozen, clustered row cannot be singled out


@pytest.mark.e2e
def test_the_built_in_base_never_learned_its_chat_markers():
    from desktune.models.builtin import builtin_folder

    folder = builtin_folder("gemma-3-270m")
    tokenizer = load_tokenizer(resolve(str(folder)))
    names = ["<end_of_turn>", "<start_of_turn>", "<unused33>", "<eos>", "<bos>", "▁the", "model", "user"]
    ids = tokenizer.convert_tokens_to_ids(names)
    assert tokenizer.convert_ids_to_tokens(untrained_in_folder(str(folder), ids)) == [
        "<unused33>", "<start_of_turn>", "<end_of_turn>"]


@pytest.mark.parametrize("arch", ["gemma3", "llama"])  # tied and untied output layers
def test_trained_rows_give_peft_s_results_and_gradients_without_its_full_matrix_copy(arch, tiny_models):
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

    from desktune.config.schema import LoraConfig
    from desktune.models.adapters import add_lora

    model = add_lora(load_model(resolve(str(tiny_models[arch]))), LoraConfig(), token_ids=[5, 7])
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    layers = [m for m in model.modules() if isinstance(m, TrainableTokensLayer)]
    inputs = {"embedding": torch.tensor([[1, 5, 9, 7, 5]]), "head": torch.randn(6, model.config.hidden_size)}
    for layer in layers:
        x = inputs["embedding" if isinstance(layer.base_layer, torch.nn.Embedding) else "head"]
        delta = layer.trainable_tokens_delta["default"]
        ours, peft = layer(x), type(layer).forward(layer, x)  # the installed forward, and PEFT's own
        assert layer.forward.__func__ is not type(layer).forward and torch.allclose(ours, peft, atol=1e-5)
        grads = [torch.autograd.grad(out.square().sum(), delta)[0] for out in (layer(x), type(layer).forward(layer, x))]
        assert torch.allclose(grads[0], grads[1], atol=1e-4)


@pytest.mark.parametrize("arch", ["gemma3", "llama"])
def test_a_training_step_with_trained_rows_never_builds_peft_s_merged_matrix(arch, tiny_models, monkeypatch):
    """PEFT's head.weight merges the whole vocab x hidden matrix at each access: a step once read it, which made the
    matrix (670 MB for Gemma) and 4x larger loss chunks at every step."""
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

    from desktune.config.schema import LoraConfig
    from desktune.data.pack import Row
    from desktune.models.adapters import add_lora
    from desktune.train.forward import causal_lm, head_trains, row_loss_sum

    model = add_lora(load_model(resolve(str(tiny_models[arch]))), LoraConfig(), token_ids=[5, 7])
    merges = []
    merged = TrainableTokensLayer.get_merged_weights
    monkeypatch.setattr(TrainableTokensLayer, "get_merged_weights", lambda *a: merges.append(1) or merged(*a))
    ids = torch.tensor([[1, 5, 9, 7, 5, 3]])
    row = Row(ids, torch.tensor([[-100, 9, 7, 5, 3, -100]]), torch.arange(6)[None], torch.zeros(6, dtype=torch.long), 6,
              torch.zeros(6, dtype=torch.long), 6)
    loss, count = row_loss_sum(model, row, "cpu")
    loss.backward()
    untrained_in_answer(model, [5, 9, 11])  # what the samples check after generating
    lm = causal_lm(model)
    assert count == 4 and merges == [] and not head_trains(lm.get_output_embeddings(), lm.config.vocab_size)
    full = load_model(resolve(str(tiny_models[arch])))
    assert head_trains(full.get_output_embeddings(), full.config.vocab_size)  # a full fine-tune's head trains


def test_data_check_and_plan_say_which_markers_will_train(tiny_models, tmp_path, capsys):
    folder, data = plant_untrained(tiny_models["llama"], tmp_path), end_of_turn_data(tmp_path)
    expected = "<start_of_turn>, <end_of_turn> never learned by this base; their rows will train (untrained_tokens=auto)"
    assert main(["data", "check", str(data), "data.template=gemma", f"--model={folder}"]) == 0
    assert f"untrained     {expected}" in capsys.readouterr().out
    main(["plan", f"model={folder}", f"data.train={data}", "data.template=gemma", "untrained_tokens=off"])
    assert "untrained tokens: <start_of_turn>, <end_of_turn> never learned by this base; untrained_tokens=off leaves " \
           "them: answers may not stop" in capsys.readouterr().out


def test_a_never_learned_token_in_an_answer_is_counted_not_hidden(tiny_models, tmp_path):
    from desktune.config.schema import LoraConfig
    from desktune.data.template import ChatFormat
    from desktune.infer.samples import side_by_side
    from desktune.models.adapters import add_lora

    folder = plant_untrained(tiny_models["llama"], tmp_path)
    model = add_lora(load_model(resolve(str(folder))), LoraConfig()).eval()
    chat = ChatFormat(load_tokenizer(resolve(str(folder))), "gemma", "llama")
    bias = torch.zeros(model.config.vocab_size)
    bias[300] = 1e4  # one of the planted never-learned rows
    model.get_output_embeddings().register_forward_hook(lambda module, args, out: out + bias)
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ahoy."}]
    [record] = side_by_side(model, chat, [conversation], str(folder), max_new_tokens=2)
    never = chat.tokenizer.convert_ids_to_tokens(300)
    assert record["tuned_untrained_tokens"] == [never] and record["tuned"] == chat.tokenizer.decode([300, 300]).strip()


@pytest.mark.parametrize("arch", ["gemma3", "llama"])  # tied and untied output layers
def test_the_peft_internals_the_fast_rows_rely_on_are_still_there(arch, tiny_models):
    """fast_token_rows reads private fields of PEFT's TrainableTokensLayer. A PEFT release that renames or
    reshapes them must fail here, loudly, not make trained rows silently wrong."""
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

    from desktune.config.schema import LoraConfig
    from desktune.models.adapters import add_lora

    model = add_lora(load_model(resolve(str(tiny_models[arch]))), LoraConfig(), token_ids=[5, 7])
    layers = [m for m in model.modules() if isinstance(m, TrainableTokensLayer)]
    assert len(layers) == 2, "PEFT no longer puts trainable tokens on both the embedding and the output layer"
    for layer in layers:
        problem = f"PEFT's TrainableTokensLayer changed ({type(layer.base_layer).__name__}): desktune's " \
                  f"fast_token_rows (desktune/models/adapters.py) must follow it:"
        fields = {"trainable_tokens_delta", "token_indices", "_get_embed_scale", "merged", "disable_adapters",
                  "active_adapters", "base_layer"}
        assert not (missing := [f for f in sorted(fields) if not hasattr(layer, f)]), f"{problem} missing {missing}"
        name = layer.active_adapters
        assert isinstance(name, list) and name == ["default"], f"{problem} active_adapters is {name!r}"
        rows, ids = layer.trainable_tokens_delta["default"], layer.token_indices["default"]
        assert isinstance(rows, torch.nn.Parameter) and rows.shape == (2, model.config.hidden_size), \
            f"{problem} trainable_tokens_delta['default'] is {type(rows).__name__} {tuple(rows.shape)}, not the rows"
        assert ids == [5, 7], f"{problem} token_indices['default'] is {ids!r}"
        assert layer.merged is False and layer.disable_adapters is False, f"{problem} merged/disable_adapters"
        assert isinstance(layer.base_layer, (torch.nn.Embedding, torch.nn.Linear)), f"{problem} base_layer"
        scale = layer._get_embed_scale()
        assert scale is None or isinstance(scale, torch.Tensor), f"{problem} _get_embed_scale() gave {scale!r}"
        if arch == "gemma3" and isinstance(layer.base_layer, torch.nn.Embedding):
            assert scale is not None, f"{problem} _get_embed_scale() lost Gemma's embedding scale"
        with torch.no_grad():
            rows.add_(torch.randn_like(rows))
            x = torch.tensor([[1, 5, 9, 7]]) if isinstance(layer.base_layer, torch.nn.Embedding) \
                else torch.randn(3, model.config.hidden_size)
            ours, peft = layer(x), type(layer).forward(layer, x)
        assert torch.allclose(ours, peft, atol=1e-5), f"{problem} the swapped rows no longer give PEFT's results"


@pytest.mark.parametrize("arch", ["gemma3", "llama"])  # tied and untied output layers
def test_loss_gradients_computed_ahead_equal_the_checkpointed_chunks(arch, tiny_models, monkeypatch):
    """The vocabulary projection's gradients are taken in the forward pass (it then runs twice, not three times):
    same loss and same gradients, LoRA and trained token rows alike, over several chunks."""
    from torch.utils.checkpoint import checkpoint

    from desktune.config.schema import LoraConfig
    from desktune.data.pack import Row
    from desktune.models.adapters import add_lora
    from desktune.train import forward

    torch.manual_seed(0)
    model = add_lora(load_model(resolve(str(tiny_models[arch]))), LoraConfig(), token_ids=[5, 7])
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    ids = torch.randint(0, model.config.vocab_size, (1, 40))
    ids[0, 3], ids[0, 9] = 5, 7
    targets = ids.roll(-1, 1).clone()
    targets[0, :5], targets[0, -1], targets[0, 20] = -100, -100, 7
    row = Row(ids, targets, torch.arange(40)[None], torch.zeros(40, dtype=torch.long), 40,
              torch.zeros(40, dtype=torch.long), 40)
    monkeypatch.setattr(forward, "loss_chunk_rows", lambda vocab, trains=False: 8)  # five chunks
    results = []
    for ahead in (True, False):
        if not ahead:
            monkeypatch.setattr(forward._GradientsAhead, "apply", lambda h, y, head, softcap, *rest: checkpoint(
                forward._chunk_loss, h, y, head, softcap, use_reentrant=False))
        model.zero_grad()
        loss, _ = forward.row_loss_sum(model, row, "cpu")
        (0.37 * loss).backward()
        results.append((loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}))
    (loss_ahead, grads_ahead), (loss_ckpt, grads_ckpt) = results
    assert loss_ahead == pytest.approx(loss_ckpt, rel=1e-6) and grads_ahead.keys() == grads_ckpt.keys()
    assert any("trainable_tokens" in n for n in grads_ahead)
    for name, grad in grads_ahead.items():
        assert torch.allclose(grad, grads_ckpt[name], atol=1e-5), name
