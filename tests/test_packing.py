"""Packing is exact: a packed row's loss equals the same examples' losses run one by one."""

import pytest
import torch
from conftest import ARCHS, example_rows

from desktune.data.pack import pack
from desktune.data.template import ChatFormat
from desktune.models.load import load_model, load_tokenizer, resolve
from desktune.plan.estimate import padded_length
from desktune.train.forward import row_loss_sum

CPU = torch.device("cpu")


def setup(tiny_models, arch, n=6):
    source = resolve(str(tiny_models[arch]))
    model = load_model(source).eval()
    chat = ChatFormat(load_tokenizer(source), "auto", model.config.model_type)
    return model, [chat.encode(r["messages"]) for r in example_rows(n)]


@pytest.mark.parametrize("arch", ARCHS)
def test_packed_loss_equals_one_by_one(tiny_models, arch):
    model, encs = setup(tiny_models, arch)
    with torch.no_grad():
        packed = pack(encs, max_tokens=10_000)
        assert len(packed) == 1 and packed[0].input_ids.shape[1] > 16  # crosses gemma's sliding window
        packed_sum, packed_n = row_loss_sum(model, packed[0], CPU)
        singles = [row_loss_sum(model, row, CPU) for row in pack(encs, 10_000, packing=False)]
    single_sum = sum(s for s, _ in singles)
    assert packed_n == sum(n for _, n in singles)
    assert abs(packed_sum.item() / packed_n - single_sum.item() / packed_n) < 1e-4


@pytest.mark.parametrize("arch", ARCHS)
def test_trained_position_loss_matches_transformers_loss(tiny_models, arch):
    model, encs = setup(tiny_models, arch, n=1)
    row = pack(encs, 10_000)[0]
    labels = torch.tensor([[i if t else -100 for i, t in zip(encs[0].ids, encs[0].trained)]])
    with torch.no_grad():
        ours, n = row_loss_sum(model, row, CPU)
        reference = model(input_ids=row.input_ids[:, : row.n_real], labels=labels).loss
    assert abs(ours.item() / n - reference.item()) < 1e-4


def test_rows_respect_the_token_budget(tiny_models):
    _, encs = setup(tiny_models, "llama", n=12)
    budget = max(len(e.ids) for e in encs) + 10
    rows = pack(encs, budget)
    assert all(r.n_real <= budget and r.input_ids.shape[1] == padded_length(r.n_real) for r in rows)
    assert sum(r.n_real for r in rows) == sum(len(e.ids) for e in encs)
    assert len(rows) < len(encs)


def test_rows_are_padded_to_few_lengths_and_little_padding():
    lengths = [padded_length(n) for n in range(1, 4097)]
    assert all(n <= padded < 1.25 * n + 16 for n, padded in enumerate(lengths, 1))
    assert len(set(lengths[:512])) <= 16  # each distinct shape costs the CPU bf16 kernels' cache some memory
    assert padded_length(83) == 96 and padded_length(512) == 512
