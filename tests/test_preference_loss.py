"""DPO and ORPO losses and their gradients from packed rows, against a hand computation from full logits."""

import pytest
import torch
import torch.nn.functional as F

from desktune.config.schema import LoraConfig
from desktune.data.preference import encode_pair, pack_pairs
from desktune.train.forward import sequence_logps
from desktune.train.objectives import means, pair_loss
from desktune.train.pairs import answer_logps, split_sides

PAIRS = [("How do I boil an egg?", "Seven minutes in boiling water.", "Eggs? Let me tell you about hens first."),
         ("What is recycling?", "Making new things from old materials.", "Recycling is a word with many letters.")]
BETA = 0.1


def setup(folder, arch: str, token_rows: bool):
    from desktune.data.template import ChatFormat
    from desktune.models.load import load_model, load_tokenizer, resolve
    from desktune.models.methods import prepare

    source = resolve(str(folder))
    chat = ChatFormat(load_tokenizer(source), "auto", arch)
    torch.manual_seed(0)
    model = prepare(load_model(source), "lora", LoraConfig(r=4, alpha=8), "fp32", [chat.end_of_turn] if token_rows else [])
    with torch.no_grad():  # an adapter that already moved: the policy differs from the reference
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    pairs = [encode_pair(f"p:{i}", [{"role": "user", "content": q}], [{"role": "assistant", "content": c}],
                         [{"role": "assistant", "content": r}], chat) for i, (q, c, r) in enumerate(PAIRS)]
    return model, pairs


def by_hand(model, enc) -> torch.Tensor:
    """Summed log-probability of the trained tokens, from the full logits of the sequence alone."""
    ids = torch.tensor([enc.ids])
    logps = F.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1).gather(1, ids[0, 1:, None])[:, 0]
    return (logps * torch.tensor(enc.trained[1:], dtype=torch.float32)).sum()


def hand_sides(model, pairs):
    chosen = torch.stack([by_hand(model, p.chosen) for p in pairs])
    rejected = torch.stack([by_hand(model, p.rejected) for p in pairs])
    return chosen, rejected


def lora_grads(model) -> dict:
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def packed(model, pairs):
    (row, positions), = pack_pairs(pairs, 4096)  # both pairs, four sequences, in one row
    assert positions == [0, 1]
    return split_sides(*sequence_logps(model, row, "cpu", 4))


@pytest.mark.parametrize("arch, token_rows", [("llama", False), ("gemma3", False), ("llama", True), ("gemma3", True)])
def test_dpo_loss_and_gradients_match_the_hand_computation(tiny_models, arch, token_rows):
    model, pairs = setup(tiny_models[arch], arch, token_rows)
    with torch.no_grad(), model.disable_adapter():
        ref_c, ref_r = hand_sides(model, pairs)
        (row, positions), = pack_pairs(pairs, 4096)
        assert torch.allclose(answer_logps(model, [(row, positions)], 2, "cpu"),
                              torch.stack([ref_c, ref_r], 1), atol=1e-4), "reference = the adapter switched off"
    pc, pr = hand_sides(model, pairs)
    expected = -F.logsigmoid(BETA * ((pc - ref_c) - (pr - ref_r))).mean()
    expected.backward()
    hand = lora_grads(model)

    logps = packed(model, pairs)
    assert torch.allclose(logps[0], pc.detach(), atol=1e-4) and torch.allclose(logps[1], pr.detach(), atol=1e-4)
    assert logps[2].tolist() == [sum(p.chosen.trained) for p in pairs]
    loss, sums = pair_loss("dpo", BETA, logps, torch.stack([ref_c, ref_r], 1), {"pairs": 2, "chosen_tokens": 0})
    loss.backward()
    assert abs(loss.item() - expected.item()) < 1e-5 and loss.item() != pytest.approx(0.6931, abs=1e-3)
    ours = lora_grads(model)
    assert hand.keys() == ours.keys() and len(ours) > 0
    assert all(torch.allclose(ours[k], hand[k], atol=1e-6, rtol=1e-4) for k in hand)

    rewards = means(sums, {"pairs": 2, "chosen_tokens": 0})
    reward_c, reward_r = BETA * (pc - ref_c).detach(), BETA * (pr - ref_r).detach()
    assert rewards["rewards/chosen"] == pytest.approx(reward_c.mean().item(), abs=1e-5)
    assert rewards["rewards/margins"] == pytest.approx((reward_c - reward_r).mean().item(), abs=1e-5)
    assert rewards["rewards/accuracies"] == (reward_c > reward_r).float().mean().item()


def test_dpo_nll_adds_the_chosen_answers_mean_token_loss(tiny_models):
    model, pairs = setup(tiny_models["llama"], "llama", False)
    with torch.no_grad(), model.disable_adapter():
        ref_c, ref_r = hand_sides(model, pairs)
    pc, pr = hand_sides(model, pairs)
    chosen_tokens = sum(sum(p.chosen.trained) for p in pairs)
    expected = -F.logsigmoid(BETA * ((pc - ref_c) - (pr - ref_r))).mean() + 0.2 * -pc.sum() / chosen_tokens
    expected.backward()
    hand = lora_grads(model)

    totals = {"pairs": 2, "chosen_tokens": chosen_tokens}
    loss, sums = pair_loss("dpo", BETA, packed(model, pairs), torch.stack([ref_c, ref_r], 1), totals, nll=0.2)
    loss.backward()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    ours = lora_grads(model)
    assert all(torch.allclose(ours[k], hand[k], atol=1e-6, rtol=1e-4) for k in hand)
    assert means(sums, totals)["nll_loss"] == pytest.approx(-pc.sum().item() / chosen_tokens, abs=1e-4)


def test_orpo_loss_and_gradients_match_the_hand_computation(tiny_models):
    model, pairs = setup(tiny_models["llama"], "llama", False)
    pc, pr = hand_sides(model, pairs)
    n_c = torch.tensor([float(sum(p.chosen.trained)) for p in pairs])
    n_r = torch.tensor([float(sum(p.rejected.trained)) for p in pairs])
    mean_c, mean_r = pc / n_c, pr / n_r  # TRL's ORPOTrainer, written out
    log_odds = (mean_c - mean_r) - (torch.log1p(-torch.exp(mean_c)) - torch.log1p(-torch.exp(mean_r)))
    expected = -pc.sum() / n_c.sum() - BETA * F.logsigmoid(log_odds).mean()
    expected.backward()
    hand = lora_grads(model)

    totals = {"pairs": 2, "chosen_tokens": n_c.sum().item()}
    loss, sums = pair_loss("orpo", BETA, packed(model, pairs), None, totals)
    loss.backward()
    assert abs(loss.item() - expected.item()) < 1e-5
    ours = lora_grads(model)
    assert all(torch.allclose(ours[k], hand[k], atol=1e-6, rtol=1e-4) for k in hand)
    metrics = means(sums, totals)
    assert metrics["nll_loss"] == pytest.approx((-pc.sum() / n_c.sum()).item(), abs=1e-5)
    assert metrics["rewards/chosen"] == pytest.approx(BETA * mean_c.mean().item(), abs=1e-6)


def test_rows_split_at_pairs_and_add_up_to_the_same_loss(tiny_models):
    """A step whose pairs fill two rows has the loss of one row holding them all (the step's totals divide)."""
    model, pairs = setup(tiny_models["llama"], "llama", False)
    reference = torch.zeros(2, 2)
    rows = pack_pairs(pairs, 1)  # one pair per row: a pair is never split between rows
    assert [positions for _, positions in rows] == [[0], [1]]
    with torch.no_grad():
        split = sum(pair_loss("dpo", BETA, split_sides(*sequence_logps(model, row, "cpu", 2)), reference[positions],
                              {"pairs": 2})[0] for row, positions in rows)
        whole = pair_loss("dpo", BETA, packed(model, pairs), reference, {"pairs": 2})[0]
    assert abs(split.item() - whole.item()) < 1e-5

