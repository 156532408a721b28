"""The one typed config. YAML keys, CLI overrides and help text all come from these dataclasses."""

from dataclasses import dataclass, field


def opt(default, help: str, choices: tuple | None = None):
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class DataConfig:
    train: str = opt("", "training data: .jsonl/.json/.csv/.parquet/.txt file, folder, glob, or hf:org/name[:split]")
    eval: str = opt("0.1", "held-out data: a file, or a fraction of the training rows")
    format: str = opt("auto", "row format (auto-detected)",
                      ("auto", "messages", "sharegpt", "alpaca", "prompt_completion", "xlam", "text",
                       "preference"))
    text_split: str = opt("paragraph", ".txt files: a document per blank-line block, or per file", ("paragraph", "file"))
    skip_invalid: bool = opt(False, "skip bad rows (counted, first reasons shown) instead of stopping")
    template: str = opt("auto", "chat template: auto (the tokenizer's own, else one for the model type), "
                        "own, or a built-in one", ("auto", "own", "gemma", "chatml", "llama3"))
    train_on: str = opt("assistant", "which tokens train", ("assistant", "last", "all"))
    max_length: int = opt(0, "longest example in tokens (0: auto: 1024; where rows declare tools, the longest "
                          "tool row up to 4096, as a cut tool row loses its call)")
    too_long: str = opt("truncate", "what to do with longer examples", ("truncate", "drop"))
    packing: bool = opt(True, "pack several examples per row (attention never crosses examples)")


@dataclass
class LoraConfig:
    r: int = opt(16, "LoRA rank")
    alpha: int = opt(32, "LoRA alpha (scale = alpha / r)")
    dropout: float = opt(0.0, "LoRA dropout (0: PEFT's and Unsloth's default; dropout masks cost ~10% of a CPU step)")
    targets: str = opt("all-linear", "modules to adapt: all-linear or a comma-separated list")
    dora: bool = opt(False, "DoRA: learn each weight's magnitude apart from its direction (PEFT use_dora)")


@dataclass
class DpoConfig:
    beta: float = opt(0.1, "how far the tuned model may move from the reference: the reward is beta x the change "
                      "in an answer's log-probability (lower lets it move further; TRL's default 0.1)")
    nll: float = opt(0.2, "weight of the chosen answers' token loss added to DPO's (Llama 3's 0.2; TRL's rpo_alpha): "
                     "keeps the chosen answers likely, so the model keeps answering instead of saying less and less; "
                     "0: plain DPO")


@dataclass
class OrpoConfig:
    beta: float = opt(0.1, "weight of the odds-ratio term beside the chosen answer's loss (lambda in the ORPO "
                      "paper; TRL's ORPOConfig.beta, default 0.1)")


@dataclass
class TrainConfig:
    objective: str = opt("sft", "what training optimises: sft (learn the answers), dpo (prefer the chosen answer "
                         "over the rejected one, against the starting model as a frozen reference), orpo (learn "
                         "the chosen answer and prefer it, no reference)", ("sft", "dpo", "orpo"))
    epochs: float = opt(0.0, "passes over the training data (0: auto: 3, or 4 for an adapter where most rows "
                        "declare tools)")
    max_steps: int = opt(0, "stop after this many optimizer steps (0: use epochs)")
    batch_size: int = opt(0, "examples per optimizer step (0: auto: 8, 4 for those tool rows, fewer on "
                          "a small set so that training takes at least 48 optimizer steps, never below 2)")
    micro_batch_tokens: int = opt(0, "tokens per forward pass; steps accumulate gradients over these "
                                  "(0: auto, chosen by the planner for this device)")
    gradient_checkpointing: str = opt("auto", "recompute decoder layers in backward to save memory "
                                      "(auto: only when the planner says memory needs it)", ("auto", "on", "off"))
    low_memory: bool = opt(False, "the smallest footprint instead of the fastest that fits: auto settings pick "
                           "256-token rows and gradient checkpointing (a little slower)")
    fsdp: bool = opt(False, "launched as several processes, method=full: shard weights, gradients and optimizer "
                     "state across them (torch FSDP2) instead of a whole copy on each")
    lr: float = opt(0.0, "peak learning rate (0: auto: an adapter 1e-4 for short answers up to 2e-4 for long ones, "
                    "5e-5 where most rows declare tools, 2e-5 for a full fine-tune; orpo the same; dpo lower, "
                    "2e-5 and 1e-6)")
    warmup: float = opt(0.05, "fraction of steps spent warming the learning rate up")
    min_lr_ratio: float = opt(0.1, "final learning rate as a fraction of the peak (cosine decay)")
    weight_decay: float = opt(0.0, "AdamW weight decay")
    max_grad_norm: float = opt(1.0, "gradient clipping norm (0: off)")
    call_decision_weight: int = opt(1, "how many times each token where a tool call is decided (which function, "
                                    "whether each argument is passed, whether another call follows) counts in the "
                                    "loss; 1: as often as any other token")
    seed: int = opt(42, "random seed for data order, split and initialisation")
    precision: str = opt("auto", "compute dtype (weights and optimizer stay fp32)", ("auto", "fp32", "bf16", "fp16"))
    eval_every: int = opt(10, "steps between held-out evaluations (0: only at the end)")
    save_every: int = opt(25, "steps between checkpoints (0: only at the end)")
    keep_checkpoints: int = opt(2, "newest checkpoints kept (the best one is kept too)")
    early_stopping: int = opt(3, "stop after this many evaluations without improvement (0: never)")
    early_stopping_delta: float = opt(0.0, "smallest eval-loss drop that counts as improvement")
    forgetting_budget: float = opt(10.0, "keep only adapters whose perplexity on neutral English text is at most this "
                                   "many % above the base's, measured at each evaluation (0: off); an evaluation "
                                   "over it counts as no improvement")
    log_every: int = opt(1, "steps between metric lines")
    report_to: str = opt("none", "also log metrics to TensorBoard (run/tensorboard)", ("none", "tensorboard"))
    eval_samples: int = opt(2, "held-out prompts answered at each evaluation, to watch the style arrive (0: none)")


@dataclass
class Config:
    model: str = opt("builtin:gemma-3-270m", "hub id, local folder, .gguf file or builtin:NAME")
    method: str = opt("auto", "how to fine-tune: lora (adapter), qlora (adapter on a 4-bit base, CUDA only), "
                      "full (every weight); auto: full for a model of at most 0.6B parameters learning tool calls "
                      "(most rows declare tools) where it fits, lora otherwise", ("auto", "lora", "qlora", "full"))
    output: str = opt("", "run folder (default: runs/<config name>)")
    new_tokens: str = opt("", "tokens to add to the vocabulary if missing, comma-separated (e.g. <think>,</think>); "
                          "their embedding and output rows train, also for tokens the base never learned")
    init_from: str = opt("", "start from an earlier run's adapter (a run folder or an adapter folder) and train it "
                         "further, so the new adapter/ alone is the result; for dpo its outputs are the reference")
    untrained_tokens: str = opt("auto", "auto: find the chat markers and special tokens of the data that this base "
                                "never learned (end of turn, turn starts) and train their rows, so answers can stop; "
                                "off: leave them as the base has them", ("auto", "off"))
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    dpo: DpoConfig = field(default_factory=DpoConfig)
    orpo: OrpoConfig = field(default_factory=OrpoConfig)
