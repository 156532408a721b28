"""The one-buffer cross-entropy of a frozen vocabulary projection: autograd's losses and gradients, in fp32 and under
bf16, with PEFT's trained token rows, on real tiny models."""

import pytest
import torch
import torch.nn.functional as F

from desktune.config.schema import LoraConfig
from desktune.models.adapters import add_lora
from desktune.models.load import load_model, resolve
from desktune.train import vocab_loss
from desktune.train.forward import causal_lm


def head_of(tiny_models, arch: str, token_ids=(5, 7)):
    torch.manual_seed(0)
    model = add_lora(load_model(resolve(str(tiny_models[arch]))), LoraConfig(), token_ids=list(token_ids))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return causal_lm(model).get_output_embeddings()


def autograd_way(head, hidden, targets):
    h = hidden.detach().requires_grad_()
    learning = [p for p in head.parameters() if p.requires_grad]
    losses = F.cross_entropy(head(h).float(), targets, reduction="none")
    return losses.detach(), torch.autograd.grad(losses.sum(), (h, *learning))


@pytest.mark.parametrize("arch", ["gemma3", "llama"])  # tied and untied output layers
def test_losses_and_gradients_equal_autograds(arch, tiny_models):
    head = head_of(tiny_models, arch)
    hidden = torch.randn(13, head.token_adapter.base_layer.in_features)  # 13 positions: padded to 16 inside
    targets = torch.randint(0, head.token_adapter.base_layer.out_features, (13,))
    targets[2], targets[5] = 5, 7  # trained rows as targets too
    projection = vocab_loss.frozen_projection(head, None)
    assert projection is not None and len(projection.learning) == 1
    losses, grads = vocab_loss.cross_entropy(projection, hidden, targets, gradients=True)
    expected, expected_grads = autograd_way(head, hidden, targets)
    assert torch.allclose(losses, expected, atol=1e-5)
    assert len(grads) == len(expected_grads) == 2
    for ours, theirs in zip(grads, expected_grads):
        assert torch.allclose(ours, theirs, atol=1e-6), (ours - theirs).abs().max()
    alone, none = vocab_loss.cross_entropy(projection, hidden, targets, gradients=False)
    assert none == () and torch.equal(alone, losses)


def test_bf16_goes_by_vocabulary_slices_and_matches_autocast(tiny_models, monkeypatch):
    head = head_of(tiny_models, "gemma3")
    head.token_adapter.base_layer.to(torch.bfloat16)  # the frozen base stored in bf16, as desktune does on a bf16 CPU
    monkeypatch.setattr(vocab_loss, "SLICE", 100)  # several slices of the tiny vocabulary
    hidden = torch.randn(9, head.token_adapter.base_layer.in_features, dtype=torch.bfloat16)
    targets = torch.randint(0, head.token_adapter.base_layer.out_features, (9,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses, grads = vocab_loss.cross_entropy(vocab_loss.frozen_projection(head, None), hidden, targets, True)
        expected, expected_grads = autograd_way(head, hidden, targets)
    assert grads[0].dtype == torch.bfloat16
    assert torch.allclose(losses, expected, atol=0.05)
    for ours, theirs in zip(grads, expected_grads):
        assert torch.allclose(ours.float(), theirs.float(), atol=0.02, rtol=0.05), (ours - theirs).abs().max()


def test_heads_whose_gradients_autograd_must_take_are_left_to_it(tiny_models):
    full = causal_lm(load_model(resolve(str(tiny_models["llama"])))).get_output_embeddings()
    assert vocab_loss.frozen_projection(full, None) is None  # a full fine-tune: the matrix trains
    full.weight.requires_grad_(False)
    assert vocab_loss.frozen_projection(full, None) is not None
    assert vocab_loss.frozen_projection(full, 30.0) is None  # soft-capped logits (Gemma 2)
    adapted = head_of(tiny_models, "llama")
    adapted.token_adapter.enable_adapters(False)  # as PEFT's disable_adapter() does
    assert vocab_loss.frozen_projection(adapted, None) is None


@pytest.mark.parametrize("vocab", [600, 601])  # by groups of 8 rows, and whole where the vocabulary does not divide
def test_column_maxima_are_amaxs(vocab):
    buffer = torch.randn(vocab, 24)
    assert torch.equal(vocab_loss._column_max(buffer), buffer.amax(0))
