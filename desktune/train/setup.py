"""Setting a training up: load the model and data, decide every 'auto' setting, make the optimizer."""

import hashlib
import random
from dataclasses import dataclass, field

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

from desktune.config.load import to_dict
from desktune.data.dataset import prepare_data
from desktune.data.neutral import neutral_examples
from desktune.data.pack import pack
from desktune.data.preference import pack_pairs
from desktune.data.schedule import Schedule
from desktune.data.template import ChatFormat, Encoded
from desktune.hardware.detect import detect
from desktune.hardware.heap import fix_mmap_threshold
from desktune.hardware.precision import choose_precision
from desktune.hardware.probe import matmul_gflops
from desktune.models.load import load_model, load_tokenizer, resolve
from desktune.models.methods import check_method, prepare, quantization_kwargs
from desktune.models.untrained import tokens_to_train
from desktune.models.vocab import add_new_tokens, match_vocabulary
from desktune.report.progress import Silent
from desktune.train.autoplan import (
    batch_size,
    choose_method,
    declares_tools,
    epochs,
    make_plan,
    this_device,
    tool_schedule,
)
from desktune.train.distributed import check_launch, shard, use_fsdp
from desktune.train.forward import RowLoss, SequenceLogps
from desktune.train.init_from import init_adapter, tokenizer_of
from desktune.train.objectives import check_objective
from desktune.train.optim import choose_lr, make_optimizer
from desktune.train.state import TrainState


@dataclass
class Training:
    """One training in progress: what set-up made, for the steps and the wrap-up."""
    cfg: object
    run: object
    accelerator: Accelerator
    kind: str  # the device kind: cpu, cuda, mps
    precision: str
    model: object  # the plain (PEFT) model, for saving and generating
    tokenizer: object
    chat: ChatFormat
    data: object
    plan: object
    sharded: bool
    params: list
    loss_fn: object  # the model under its loss, as accelerate (DDP) or FSDP2 wrapped it
    optimizer: object
    decisions: dict
    meta: dict
    schedule: Schedule  # which examples form each step
    total: int
    eval_rows: list
    neutral_rows: list  # neutral text, for the forgetting guard (empty: off)
    call_rows: list  # tool rows: the held-out calls alone, whose loss judges the evaluations (empty: the eval loss)
    state: TrainState = field(default_factory=TrainState)
    report: object = field(default_factory=Silent)  # the Reporter once the run has started
    reference_seconds: float = 0.0  # dpo: the reference pass before step 1 in this process (bench counts it)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def judge(self):
        return self.loss_fn if self.sharded else self.model  # a sharded model only runs through its root module


def set_up(cfg, run) -> Training:
    """Load the model and data, decide every 'auto' setting, make the optimizer."""
    random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    check_launch()  # before NCCL: two processes on one GPU would crash inside it
    facts = detect()
    check_method(cfg.method, facts)
    check_objective(cfg)
    if facts.kind == "cpu":
        fix_mmap_threshold()
    init = init_adapter(cfg)
    precision, precision_why = choose_precision(cfg.train.precision, facts)
    # the plan's speed, probed before the model loads: just after, a 2-core VM's probe read 141 GFLOP/s, then 169
    matmul_gflops(facts.kind, precision)
    # accelerate scales fp16 losses and skips steps whose gradients overflowed. Its precision is process-wide
    # state: forget the previous run's (the process group, if any, stays).
    AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=precision if precision != "fp32" else "no", cpu=facts.kind == "cpu")
    sharded = use_fsdp(cfg, accelerator.num_processes)

    source = resolve(cfg.model)
    tokenizer = load_tokenizer(source)
    model = load_model(source, **quantization_kwargs(cfg.method))
    if init is not None:  # its tokenizer: the chat template and any tokens the earlier run added
        tokenizer = tokenizer_of(init, tokenizer)
        match_vocabulary(model, tokenizer)
    token_ids = add_new_tokens(tokenizer, model, cfg.new_tokens)
    chat, data = prepare_data(cfg, tokenizer, model.config.model_type)
    chat.call_share = data.stats.get("tool_use", {}).get("call_share")  # the closing samples call as eval will
    method_why = choose_method(cfg, data.train, model.config, this_device(facts, precision).usable)
    if init is None:
        untrained, untrained_why = tokens_to_train(cfg.untrained_tokens, cfg.method, model, tokenizer,
                                                   (s.ids for e in data.train for s in e.sequences), chat.end_of_turn)
    else:  # a loaded adapter cannot grow trained token rows; it keeps those it has
        token_ids, untrained, untrained_why = [], [], f"as the init_from adapter has them ({init})"
    tools = tool_schedule(cfg, data.train)
    cfg.train.batch_size, batch_why = batch_size(cfg.train, len(data.train), tools)
    cfg.train.epochs, epochs_why = epochs(cfg.train, tools)
    plan = make_plan(cfg, model.config, data.train, facts, precision, accelerator.num_processes)
    # trained tokens per example; a pair's are its chosen answer's (what ORPO learns as SFT does)
    pairs = data.stats.get("pairs")
    lr_why = choose_lr(cfg, pairs["chosen_tokens"]["mean"] if pairs else
                       data.stats["trained_tokens"] / max(len(data.train), 1), tools)
    # the planner's decisions replace the auto values, so the resolved config (and eval, resume) use them
    cfg.train.micro_batch_tokens = plan.row_tokens
    cfg.train.gradient_checkpointing = "on" if plan.checkpointing else "off"
    if plan.checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model = prepare(model, cfg.method, cfg.lora, precision, sorted(set(token_ids) | set(untrained)), init)
    if init is not None:  # the resolved config says what the adapter is
        adapter = model.peft_config[model.active_adapter]
        cfg.lora.r, cfg.lora.alpha, cfg.lora.dora = adapter.r, int(adapter.lora_alpha), adapter.use_dora
    model.train()
    params, loss_fn, optimizer = _optimizer(cfg, model, accelerator, sharded)

    schedule = Schedule(len(data.train), cfg.train.batch_size, cfg.train.seed)
    total = schedule.total(cfg.train.epochs, cfg.train.max_steps)
    eval_rows = _eval_rows(cfg, data.eval, tokenizer.pad_token_id or 0)
    call_rows = _call_rows(cfg, chat, data, tokenizer.pad_token_id or 0)
    guarded = bool(cfg.train.forgetting_budget and eval_rows)
    neutral_rows = pack(neutral_examples(chat), cfg.train.micro_batch_tokens) if guarded else []
    processes = f" x {accelerator.num_processes} processes" if accelerator.num_processes > 1 else ""
    decisions = {"device": f"{facts.kind} ({facts.name}){processes}", "precision": f"{precision}: {precision_why}",
                 "method": f"{cfg.method} ({method_why})",
                 "objective": _objective_text(cfg, init),
                 "template": chat.name, "untrained_tokens": untrained_why, "lr": f"{cfg.train.lr:g} ({lr_why})",
                 "batch_size": f"{cfg.train.batch_size} ({batch_why})",
                 "steps": f"{total} ({schedule.per_epoch} per epoch, {len(data.train)} examples)",
                 "epochs": f"{cfg.train.epochs:g} ({epochs_why})",
                 "max_length": f"{cfg.data.max_length} ({data.stats['max_length_why']})",
                 "micro_batch_tokens": plan.row_tokens_why, "gradient_checkpointing": plan.checkpointing_why,
                 "forgetting_guard": _guard_text(cfg, guarded), "best_checkpoint": _judge_text(call_rows, eval_rows)}
    meta = {"config": _resolved_config(cfg, run, precision, chat.name), "data_fingerprint": _fingerprint(data)}
    return Training(cfg, run, accelerator, facts.kind, precision, model, tokenizer, chat, data, plan, sharded, params,
                    loss_fn, optimizer, decisions, meta, schedule, total, eval_rows, neutral_rows, call_rows)


def _eval_rows(cfg, held_out: list, pad_id: int) -> list:
    """The held-out examples packed once: rows, or for pairs [(row, positions of its pairs)]."""
    if cfg.train.objective == "sft":
        return pack([e.encoded for e in held_out], cfg.train.micro_batch_tokens, cfg.data.packing, pad_id)
    return pack_pairs(held_out, cfg.train.micro_batch_tokens, cfg.data.packing, pad_id)


def _call_rows(cfg, chat: ChatFormat, data, pad_id: int) -> list:
    """Where most examples declare tools: the held-out turns that call, alone, packed once. Their loss judges the
    evaluations: on a hand-written travel set the eval loss rose from step 30, carried up by the few answers in words,
    while the calls' loss fell to the last step, whose model wrote exact arguments for 44% of requests against 22%."""
    if cfg.train.objective != "sft" or not declares_tools(data.train):
        return []
    calls = []
    for e in data.eval:
        if not any(m.get("tool_calls") for m in e.messages or []):
            continue
        alone = chat.encode(e.messages, e.where, "assistant", e.tools, calls_only=True)
        trained = [c and t for c, t in zip(alone.trained, e.encoded.trained)]  # as cut to max_length, as train_on says
        if any(trained):
            end = max(i for i, t in enumerate(trained) if t) + 1  # what follows the last call is not read
            calls.append(Encoded(e.encoded.ids[:end], trained[:end]))
    return pack(calls, cfg.train.micro_batch_tokens, cfg.data.packing, pad_id)


def _judge_text(call_rows: list, eval_rows: list) -> str:
    if call_rows:
        return "the lowest held-out loss of the calls alone, as most examples declare tools"
    return "the lowest held-out loss" if eval_rows else "the last step: nothing is held out"


def _guard_text(cfg, guarded: bool) -> str:
    if guarded:
        return (f"keep the best evaluation whose neutral-text perplexity is within +{cfg.train.forgetting_budget:g}% "
                "of the base's")
    return "off (train.forgetting_budget=0)" if not cfg.train.forgetting_budget else "off: nothing is held out"


def _optimizer(cfg, model, accelerator, sharded: bool) -> tuple[list, object, object]:
    """The trainable parameters, the loss module the steps run, and the optimizer over them."""
    if sharded:  # FSDP2 shards the loss module's weights in place; the optimizer is made on the shards
        loss_fn = shard(RowLoss(model))
        params = [p for p in model.parameters() if p.requires_grad]
        return params, loss_fn, make_optimizer(params, cfg.train.lr, cfg.train.weight_decay, accelerator.device,
                                               fused=False)
    # DDP (several processes) wraps the loss module; `model` stays the plain one for saving and generating
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg.train.lr, cfg.train.weight_decay, accelerator.device)
    module = RowLoss(model) if cfg.train.objective == "sft" else SequenceLogps(model)
    loss_fn, optimizer = accelerator.prepare(module, optimizer)
    return params, loss_fn, optimizer


def _fingerprint(data) -> str:
    h = hashlib.sha256()
    for split in (data.train, data.eval):
        for e in split:
            for s in e.sequences:
                h.update(repr((s.ids, s.trained)).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


def _resolved_config(cfg, run, precision: str, template: str) -> dict:
    resolved = to_dict(cfg)
    resolved["output"] = str(run.path)
    resolved["train"]["precision"] = precision
    resolved["data"]["template"] = template
    return resolved


def _objective_text(cfg, init) -> str:
    start = f"; starts from {init}" if init is not None else ""
    if cfg.train.objective == "dpo":
        nll = f", plus {cfg.dpo.nll:g} x the chosen answers' token loss" if cfg.dpo.nll else ""
        return (f"dpo, beta {cfg.dpo.beta:g}{nll}: two sequences per pair; the reference is the model before step 1, "
                f"its log-probabilities computed once (no second copy){start}")
    if cfg.train.objective == "orpo":
        return f"orpo, beta (lambda) {cfg.orpo.beta:g}: two sequences per pair, no reference{start}"
    return f"sft{start}"
