"""Packing is exact: a packed row's loss equals the same examples' losses run one by one, also where examples
hold a shared prefix once."""

import pytest
import torch
from conftest import ARCHS, example_rows

from desktune.data.pack import MIN_SHARED, make_row, pack, row_length, share_groups
from desktune.data.template import ChatFormat
from desktune.models.load import load_model, load_tokenizer, resolve
from desktune.plan.estimate import padded_length
from desktune.train.forward import row_loss_sum, sequence_logps

CPU = torch.device("cpu")


def setup(tiny_models, arch, n=6, system=None):
    source = resolve(str(tiny_models[arch]))
    model = load_model(source).eval()
    chat = ChatFormat(load_tokenizer(source), "auto", model.config.model_type)
    first = [{"role": "system", "content": system}] if system else []
    return model, [chat.encode(first + r["messages"]) for r in example_rows(n)]


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


SYSTEM = "You are the help desk of a small town library. " * 6  # a long system prompt every example starts with


def loss_and_gradients(model, rows):
    model.zero_grad()
    total = sum(row_loss_sum(model, row, CPU)[0] for row in rows)
    total.backward()
    return total.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("arch", ARCHS)
def test_a_shared_prefix_gives_the_same_loss_and_gradients_as_repeating_it(tiny_models, arch):
    model, encs = setup(tiny_models, arch, 4, SYSTEM)
    shared = pack(encs, 10_000)
    assert len(shared) == 1 and share_groups(encs)[0][1] == [0, 1, 2, 3]
    prefix = share_groups(encs)[0][0]
    assert prefix > model.config.sliding_window if arch == "gemma3" else prefix >= MIN_SHARED  # windows by position
    assert shared[0].n_real == sum(len(e.ids) for e in encs) - 3 * prefix == row_length(encs)
    assert shared[0].example_tokens == sum(len(e.ids) for e in encs)
    loss, grads = loss_and_gradients(model, shared)
    expected_loss, expected_grads = loss_and_gradients(model, pack(encs, 10_000, packing=False))
    assert abs(loss - expected_loss) < 1e-4 * abs(expected_loss)
    assert len(grads) == len(expected_grads)
    assert all((g - e).abs().max() <= 1e-5 * e.abs().max() for g, e in zip(grads, expected_grads))


def test_preference_sides_sharing_a_prompt_keep_their_log_probabilities(tiny_models):
    model, encs = setup(tiny_models, "gemma3", 4, SYSTEM)
    with torch.no_grad():
        sums, counts = sequence_logps(model, make_row(encs, 0), CPU, 4)
        singles = [sequence_logps(model, make_row([e], 0), CPU, 1) for e in encs]
    assert torch.allclose(sums, torch.cat([s for s, _ in singles]), rtol=1e-5)
    assert torch.equal(counts, torch.cat([c for _, c in singles]))


def test_only_a_long_untrained_start_is_shared(tiny_models):
    _, plain = setup(tiny_models, "llama", n=4)
    assert [len(m) for _, m in share_groups(plain)] == [1, 1, 1, 1]  # chat markers alone: too short to share
    _, encs = setup(tiny_models, "llama", 2, SYSTEM)
    (prefix, members), = share_groups(encs)
    first_trained = min(e.trained.index(True) for e in encs)
    assert members == [0, 1] and MIN_SHARED <= prefix < first_trained  # the token after it is no target either
    text = [type(encs[0])(e.ids, [False] + [True] * (len(e.ids) - 1)) for e in encs]  # plain text trains throughout
    assert [len(m) for _, m in share_groups(text)] == [1, 1]
