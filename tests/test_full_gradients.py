"""A full fine-tune on CPU: the head's and the embedding's matrix gradients, added in place by desktune's forward
(train/forward.py), equal what plain transformers and autograd give, for a tied Gemma 3 (scaled lookup, padding
row) and an untied Llama, in fp32 and under bf16 autocast, over two rows accumulated; and so do those of the
preference objectives' per-example log-probabilities."""

import pytest
import torch
import torch.nn.functional as F

from desktune.data.pack import IGNORE, Row
from desktune.models.load import load_model, resolve
from desktune.train.forward import _rows_in_place, row_loss_sum, sequence_logps
from desktune.train.vocab_loss import trained_projection


def a_row(vocab: int, length: int, seed: int) -> Row:
    own = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (1, length), generator=own)
    ids[0, 4] = 0  # the padding token's id: its embedding row gets no gradient
    targets = torch.full((1, length), IGNORE)
    targets[0, length // 2:] = torch.randint(3, vocab, (length - length // 2,), generator=own)
    docs, contexts = torch.zeros(length, dtype=torch.long), torch.zeros(length, dtype=torch.long)
    return Row(ids, targets, torch.arange(length)[None], docs, length, contexts, length)


def gradients(model, rows: list[Row], scales: list[float], precision: str, desktune_way: bool) -> dict:
    model.zero_grad(set_to_none=True)
    for row, scale in zip(rows, scales):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            if desktune_way:
                loss, _ = row_loss_sum(model, row, "cpu")
            else:  # what a plain script does: the whole logits, autograd's cross-entropy
                keep = row.targets[0] != IGNORE
                logits = model(input_ids=row.input_ids).logits[0, keep].float()
                loss = F.cross_entropy(logits, row.targets[0, keep], reduction="sum")
        (loss * scale).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("arch", ["gemma3", "llama"])  # tied, scaled, with a padding row; untied
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_in_place_matrix_gradients_equal_autograds(arch, precision, tiny_models):
    model = load_model(resolve(str(tiny_models[arch])))
    model.train()
    vocab = model.config.vocab_size
    rows, scales = [a_row(vocab, 40, 1), a_row(vocab, 24, 2)], [0.25, 0.5]
    assert _rows_in_place(model.get_input_embeddings())  # both matrices take desktune's way, not autograd's
    assert trained_projection(model.get_output_embeddings(), None) is not None
    ours = gradients(model, rows, scales, precision, desktune_way=True)
    theirs = gradients(model, rows, scales, precision, desktune_way=False)
    assert model.config.tie_word_embeddings == (arch == "gemma3")
    if arch == "llama":  # untied: the padding token's row only gets the lookup's gradient, which is none
        assert torch.all(ours["model.embed_tokens.weight"][0] == 0)
    tolerance = 1e-4 if precision == "fp32" else 0.03
    for name, grad in theirs.items():
        error = (ours[name] - grad).norm() / grad.norm()
        assert error < tolerance, f"{name}: {error:.2e}"


def test_preference_logps_take_the_matrix_gradients_in_place(tiny_models):
    """DPO and ORPO's per-example log-probabilities (sequence_logps) take the same lookup and head: their gradients
    (each position scaled by its own incoming gradient) too."""
    model = load_model(resolve(str(tiny_models["gemma3"])))
    row = a_row(model.config.vocab_size, 32, 3)
    row.doc_ids[24:] = 1  # two examples in the row (the second sees the first as a shared prompt), trained in both
    assert trained_projection(model.get_output_embeddings(), None) is not None
    grads = []
    for desktune_way in (True, False):
        model.zero_grad(set_to_none=True)
        if desktune_way:
            sums, _ = sequence_logps(model, row, "cpu", 2)
        else:
            keep = row.targets[0] != IGNORE  # positions 16-23 in the first example, 24-31 in the second
            logps = -F.cross_entropy(model(input_ids=row.input_ids).logits[0, keep].float(), row.targets[0, keep],
                                     reduction="none")
            sums = torch.stack([logps[:8].sum(), logps[8:].sum()])
        (sums * torch.tensor([0.3, -0.7])).sum().backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    ours, theirs = grads
    assert set(ours) == set(theirs)
    for name, grad in theirs.items():
        assert (ours[name] - grad).norm() / grad.norm() < 1e-4, name


def test_only_where_gradients_are_taken(tiny_models):
    model = load_model(resolve(str(tiny_models["gemma3"])))
    embedding = model.get_input_embeddings()
    assert _rows_in_place(embedding)
    with torch.no_grad():
        assert not _rows_in_place(embedding)
    embedding.weight.requires_grad_(False)  # LoRA: the matrix is frozen
    assert not _rows_in_place(embedding)


@pytest.mark.parametrize("arch", ["gemma3", "llama"])
def test_an_evaluation_reads_a_trained_head_by_slices(arch, tiny_models):
    """No gradient wanted (the held-out and neutral-text losses): a head whose matrix trains is read by slices, as a
    frozen one is, not through the module, where autocast would keep a bf16 copy of the whole matrix."""
    from torch.profiler import ProfilerActivity, profile

    model = load_model(resolve(str(tiny_models[arch])))
    model.eval()
    row = a_row(model.config.vocab_size, 40, 3)
    matrix = [model.config.vocab_size, model.config.hidden_size]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as seen:
            ours, _ = row_loss_sum(model, row, "cpu")
        keep = row.targets[0] != IGNORE
        theirs = F.cross_entropy(model(input_ids=row.input_ids).logits[0, keep].float(), row.targets[0, keep],
                                 reduction="sum")
    whole = [e for e in seen.events() if e.name == "aten::linear" and any(s == matrix for s in e.input_shapes if s)]
    assert not whole and float(ours) == pytest.approx(float(theirs), rel=0.02)
