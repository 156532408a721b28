"""What a preference step optimises, as pure functions: the answers' summed log-probabilities in, per-pair losses
and the metrics TRL logs out. (SFT's objective is the token loss of forward.row_loss_sum.)"""

import torch
import torch.nn.functional as F

from desktune.errors import ConfigError

REWARDS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


def check_objective(cfg) -> None:
    """Refuse settings a preference objective cannot run with, before anything loads."""
    if cfg.train.objective == "sft":
        return
    beta = cfg.dpo.beta if cfg.train.objective == "dpo" else cfg.orpo.beta
    if not beta > 0:
        raise ConfigError(f"{cfg.train.objective}.beta={beta:g} must be above 0",
                          f"use the default, {cfg.train.objective}.beta=0.1")
    if cfg.train.objective == "dpo" and cfg.dpo.nll < 0:
        raise ConfigError(f"dpo.nll={cfg.dpo.nll:g} must be 0 or above",
                          "use the default, dpo.nll=0.2, or 0 for plain DPO")
    if cfg.train.fsdp:
        raise ConfigError(f"train.fsdp does not run train.objective={cfg.train.objective} yet",
                          "drop train.fsdp (several processes then each hold the whole model), or use method=lora")


def dpo_losses(chosen, rejected, ref_chosen, ref_rejected, beta: float):
    """DPO's sigmoid loss per pair, -log σ(β((πc - rc) - (πr - rr))), and each side's reward β(π - r)
    (Rafailov et al. 2023; TRL's loss_type="sigmoid")."""
    reward_c, reward_r = beta * (chosen - ref_chosen), beta * (rejected - ref_rejected)
    return -F.logsigmoid(reward_c - reward_r), reward_c.detach(), reward_r.detach()


def orpo_losses(chosen, n_chosen, rejected, n_rejected, beta: float):
    """ORPO's odds-ratio term per pair, -β log σ(log odds(c) - log odds(r)), with each answer's odds from its mean
    token log-probability (Hong et al. 2024, as TRL's ORPOTrainer); the rewards TRL logs, β x that mean per side;
    and log σ(log odds ratio)."""
    mean_c, mean_r = chosen / n_chosen, rejected / n_rejected
    log_odds = (mean_c - mean_r) - (_log1m_exp(mean_c) - _log1m_exp(mean_r))
    ratio = F.logsigmoid(log_odds)
    return -beta * ratio, beta * mean_c.detach(), beta * mean_r.detach(), ratio.detach()


def _log1m_exp(x):
    """log(1 - exp(x)) for x < 0, precise near 0."""
    return torch.log(-torch.expm1(x))


def pair_loss(objective: str, beta: float, logps: tuple, reference, totals: dict,
              nll: float = 0.0) -> tuple[torch.Tensor, dict]:
    """One row's share of the step's loss, and its pairs' metric sums. logps: per pair, the chosen and rejected
    answers' summed log-probabilities and token counts; reference: [pairs, 2] (dpo); totals: the whole step's pairs
    and chosen tokens, so rows and processes add up to the step's mean (ORPO: mean chosen-token NLL + mean
    odds-ratio term, as TRL; DPO: mean DPO loss + nll x the mean chosen-token NLL, as TRL's rpo_alpha)."""
    chosen, rejected, n_chosen, n_rejected = logps
    if objective == "dpo":
        losses, reward_c, reward_r = dpo_losses(chosen, rejected, reference[:, 0], reference[:, 1], beta)
        loss, extra = losses.sum() / totals["pairs"], {}
        if nll:
            loss = loss + nll * -chosen.sum() / totals["chosen_tokens"]
            extra = {"nll_loss": -chosen.sum().item()}
    else:
        losses, reward_c, reward_r, ratio = orpo_losses(chosen, n_chosen, rejected, n_rejected, beta)
        nll = -chosen.sum()
        loss = nll / totals["chosen_tokens"] + losses.sum() / totals["pairs"]
        extra = {"nll_loss": nll.item(), "log_odds_ratio": ratio.sum().item()}
    sums = dict(zip(REWARDS, (reward_c.sum().item(), reward_r.sum().item(), (reward_c - reward_r).sum().item(),
                              (reward_c > reward_r).sum().item())))
    return loss, sums | extra


def means(sums: dict, totals: dict, prefix: str = "") -> dict:
    """Metric sums as the step's means: per pair, the NLL per chosen token. prefix "eval_": held-out (TRL's names)."""
    return {prefix + k: v / (totals["chosen_tokens"] if k == "nll_loss" else totals["pairs"]) for k, v in sums.items()}
