"""What a training job costs, from the model's shape alone (no weights): bytes of memory and FLOPs per token.

Pure functions. Activation constants follow what PyTorch keeps for backward in these decoder layers; the
overhead and efficiency constants were measured on a 2-core CPU (see benchmarks/plan_accuracy.py).
"""

import platform
from dataclasses import dataclass, replace

GB = 1e9
PAD_STEP = 16  # the finest step between the lengths rows are padded to
# desktune.train.forward applies the vocabulary projection to at most this many logits at a time; 4x more when
# the projection itself trains (full fine-tune): each chunk then also adds a vocab x hidden weight gradient
LOSS_CHUNK_ELEMENTS = 2**25
# python + torch + transformers + peft + accelerate, and the fast tokenizer, whose memory grows with its
# vocabulary (measured peaks of whole runs: about 0.55 GB with a tiny test model and tokenizer, 2026-12-06)
CPU_RUNTIME, TOKENIZER_BYTES_PER_TOKEN = 0.55 * GB, 400
GPU_RUNTIME = 0.6 * GB  # CUDA context and allocator slack
# CPU on Linux: the heap's holes, as a share of what a step without checkpointing keeps for backward (the
# built-in, rows of 256-2048 tokens, LoRA and full, bf16 and fp32, with checkpointing or not; 2026-12-06)
HEAP_HOLES = 0.45


def loss_chunk_rows(vocab: int, head_trains: bool = False) -> int:
    """Positions per loss chunk: 128 for Gemma's 262k vocabulary (512 when the head trains), 1024 for 32k."""
    return max(16, LOSS_CHUNK_ELEMENTS * (4 if head_trains else 1) // vocab)


@dataclass
class Shape:
    """The numbers of a decoder-only transformer that decide its cost."""
    params: int
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    softcap: bool = False  # logits soft-capped (Gemma 2): the loss takes autograd's way

    @classmethod
    def from_config(cls, config) -> "Shape":
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        kv = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        h, i, n, v = config.hidden_size, config.intermediate_size, config.num_hidden_layers, config.vocab_size
        attn = h * head_dim * (2 * config.num_attention_heads + 2 * kv)
        per_layer = attn + 3 * h * i + 4 * h
        tied = getattr(config, "tie_word_embeddings", False)
        params = n * per_layer + v * h * (1 if tied else 2) + h
        softcap = bool(getattr(config, "final_logit_softcapping", None))
        return cls(params, n, h, i, config.num_attention_heads, kv, head_dim, v, tied, softcap)

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer in one decoder layer, by the names PEFT targets."""
        h, i, q, kv = self.hidden, self.intermediate, self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


@dataclass
class Job:
    method: str  # lora | qlora | full
    precision: str  # fp32 | bf16 | fp16 (compute)
    row_tokens: int  # tokens per forward row
    trained_fraction: float  # share of tokens whose loss is computed (assistant turns)
    lora_r: int = 16
    lora_targets: tuple = ()  # empty: all linear layers
    checkpointing: bool = False  # activation checkpointing of decoder layers
    attention_matrix: bool = True  # attention visits every [heads, T, T] element (CPU/MPS with a packing mask)
    matrix_kept: bool = False  # ... and keeps it for backward (MPS; CPU's flash kernel keeps q, k, v, output, mask)
    shards: int = 1  # train.fsdp: weights, gradients and optimizer state split over this many processes


def padded_length(tokens: int) -> int:
    """The length a row of this many tokens is padded to: a multiple of a quarter of its power of two (83 -> 96,
    300 -> 320, 1000 -> 1024), so at most a quarter of a row is padding and about 16 shapes cover rows up to 512."""
    step = max(PAD_STEP, 1 << max(tokens.bit_length() - 3, 0))
    return -(-tokens // step) * step


def adapted_linears(shape: Shape, job: Job) -> dict[str, tuple[int, int]]:
    """(in, out) of the linear layers of one decoder layer that train: LoRA's targets, or all of them (full)."""
    return {name: dims for name, dims in shape.linear_shapes().items()
            if job.method == "full" or not job.lora_targets or name in job.lora_targets}


def lora_params(shape: Shape, job: Job) -> int:
    return shape.layers * sum(job.lora_r * (a + b) for a, b in adapted_linears(shape, job).values())


def trainable_params(shape: Shape, job: Job) -> int:
    return shape.params if job.method == "full" else lora_params(shape, job)


def memory(shape: Shape, job: Job, kind: str) -> dict[str, float]:
    """Peak bytes by part for one training process."""
    act = 4 if job.precision == "fp32" else 2
    trainable = trainable_params(shape, job)
    if job.method == "qlora":  # NF4 linears (~0.56 bytes/param with double quantisation); the embedding and
        # an untied head stay bf16 (models/methods.py)
        matrices = shape.embedding_params * (1 if shape.tied else 2)
        weights = (shape.params - matrices) * 0.56 + matrices * 2
    elif job.method == "lora":  # the frozen base is stored in the compute dtype
        weights = shape.params * act
    else:
        weights = shape.params * 4
    parts = {
        "weights": weights,
        "adapter": 0 if job.method == "full" else trainable * 4,
        "gradients": trainable * 4,
        "optimizer": trainable * 8,  # AdamW: two fp32 moments
        "activations": _activations(shape, job, act),
        "logits/loss": _loss_bytes(shape, job, act, kind),
        "runtime": GPU_RUNTIME if kind == "cuda" else cpu_runtime(shape),
    }
    if kind != "cuda" and job.checkpointing and platform.system() != "Linux":  # measured on the built-in (bf16,
        # rows of 512-2048 tokens): a checkpointed forward on CPU left about 16 kB per token and layer behind in
        # malloc's heaps, 6x the residual stream it keeps (on Linux the heap term below counts what stays there)
        parts["activations"] += 5 * shape.layers * job.row_tokens * shape.hidden * 4
    if kind == "cpu" and platform.system() == "Linux":  # blocks under 32 MiB come from malloc's heaps
        # (desktune.hardware.heap), where those a step frees stay as holes that later blocks do not always fit
        parts["heap"] = HEAP_HOLES * _activations(shape, replace(job, checkpointing=False), act)
    elif kind != "cuda":  # elsewhere measured only before the heap's threshold was fixed: about one loss chunk
        parts["heap"] = parts["logits/loss"]
    if act == 2 and job.method == "full":  # autocast's low-precision weight copies, kept for backward; the
        # one-buffer loss casts the head by slices, and the embedding's lookup is never cast
        matrices = shape.embedding_params * (1 if shape.tied else 2) if one_buffer_loss(shape, kind) else 0
        parts["weights"] += (shape.params - matrices) * act
    if job.method == "qlora":  # bitsandbytes dequantises one frozen weight to bf16 for each matmul
        parts["weights"] += max(a * b for a, b in shape.linear_shapes().values()) * 2
    if job.checkpointing:  # the loss runs after the layers' forward and before their recomputation: a
        # recomputed layer and the loss chunks never hold memory at once, so only the larger one counts
        layer = _layer_bytes(shape, job, act)
        parts["logits/loss"] = max(0.0, parts["logits/loss"] - layer)
    if job.shards > 1:  # FSDP: each process keeps its share, and gathers whole layers as they run
        for part in ("weights", "gradients", "optimizer"):
            parts[part] /= job.shards
        parts["weights"] += 2 * 4 * (shape.params - shape.embedding_params) / shape.layers
    return parts


def one_buffer_loss(shape: Shape, kind: str) -> bool:
    """Whether the loss takes train/vocab_loss.py's one-buffer pass: on CPU, logits not soft-capped."""
    return kind == "cpu" and not shape.softcap


def _loss_bytes(shape: Shape, job: Job, act: int, kind: str) -> float:
    """One loss chunk. On CPU (train/vocab_loss.py): one fp32 buffer of logits, turned into their gradient in place;
    a full fine-tune keeps every chunk's buffer of the row for backward. Elsewhere: fp32 logits, their gradient and
    the low-precision product."""
    rows = min(loss_chunk_rows(shape.vocab, job.method == "full"), job.row_tokens * job.trained_fraction)
    if one_buffer_loss(shape, kind):
        kept = job.row_tokens * job.trained_fraction if job.method == "full" else rows
        return -(-kept // 8) * 8 * shape.vocab * 4
    return rows * shape.vocab * (4 + 4 + act)


def loading_peak(shape: Shape, job: Job, kind: str) -> float:
    """Bytes while the base loads, before training: on CPU and MPS the fp32 checkpoint is memory-mapped
    while LoRA's frozen copy in the compute dtype is made (CUDA memory only ever holds the copy). On Linux
    each weight's mapped pages go back once it is copied, but the embedding was read whole before (to find
    the token rows the base never learned)."""
    if kind == "cuda" or job.method != "lora" or job.precision == "fp32":
        return 0.0
    mapped = shape.embedding_params if platform.system() == "Linux" else shape.params
    return shape.params * 2 + mapped * 4 + cpu_runtime(shape)


def cpu_runtime(shape: Shape) -> float:
    return CPU_RUNTIME + shape.vocab * TOKENIZER_BYTES_PER_TOKEN


def _activations(shape: Shape, job: Job, act: int) -> float:
    """What backward needs from the forward pass, for the largest row (rows are run one after another)."""
    t = job.row_tokens
    masks = 2 * t * t  # the packing masks (full and sliding window), one byte per pair
    if job.checkpointing:  # each layer keeps only its input (the fp32 residual stream); one is recomputed at a time
        return shape.layers * t * shape.hidden * 4 + _layer_bytes(shape, job, act) + masks
    return shape.layers * _layer_bytes(shape, job, act) + masks


def _layer_bytes(shape: Shape, job: Job, act: int) -> float:
    """Tensors one decoder layer keeps for backward, counted with torch's saved-tensor hooks on a Gemma 3 layer
    (bytes per token: 181k for the 4B shape with LoRA in bf16, 243k with QLoRA; the H100 peaks agree)."""
    t, h, i = job.row_tokens, shape.hidden, shape.intermediate
    q, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    # fp32: the residual stream and its norms, q/k norms; compute dtype: q, k and v (repeated to every head) and
    # the attention output; the MLP's gate, up and product (fp32 under bitsandbytes, which casts outputs back)
    per_token = 4 * (4 * h + q + kv) + act * 4 * q + (4 if job.method == "qlora" else act) * 3 * i
    # each trained matmul keeps its input in the compute dtype (and LoRA its rank-r projection)
    rank = 0 if job.method == "full" else job.lora_r
    per_token += act * sum(a + rank for a, _ in adapted_linears(shape, job).values())
    per_layer = t * per_token
    if job.matrix_kept:  # the probabilities, [heads, T, T], saved by softmax and the matmul after it (one tensor).
        # Not on CPU: torch's flash kernel saved 9.4 MB for a 512-token layer of the built-in, no matrix; counting it
        # over-planned 2048-token rows by +35% (fp32) and +8% (bf16), 2026-12-05
        per_layer += shape.heads * t * t * act
    return per_layer


def flops_per_token(shape: Shape, job: Job, kind: str) -> float:
    """Matmul FLOPs of one optimizer step, per real token: forward, backward and recomputation. Checkpointing runs
    the decoder layers' forward again, not the vocabulary projection (outside the checkpointed layers: on the
    built-in, 2048-token rows, a step took 1.28x as long with it (bf16) and 1.29x / 1.42x (fp32, 2026-12-05), where
    the whole forward again planned 1.46x)."""
    forward = forward_flops_per_token(shape, job)
    head = 2 * shape.embedding_params * job.trained_fraction
    backward = 2 * forward if job.method == "full" else forward  # frozen weights: input gradients only
    # a trained head's loss chunks run again in backward, but where the loss takes one buffer (CPU) and wherever
    # the head is frozen, its gradients are taken in the forward pass
    again = job.method == "full" and not one_buffer_loss(shape, kind)
    recompute = (head if again else 0) + (forward - head if job.checkpointing else 0)
    return forward + backward + recompute


def forward_flops_per_token(shape: Shape, job: Job) -> float:
    """Matmul FLOPs of one forward pass per real token (the vocabulary projection at trained positions only)."""
    attention = 4 * shape.layers * shape.heads * shape.head_dim * (job.row_tokens if job.attention_matrix
                                                                  else job.row_tokens / 2)
    return _linear_flops(shape, job.trained_fraction) + attention


def model_flops_per_token(shape: Shape, full: bool, trained_fraction: float, context: int = 128) -> float:
    """Useful matmul FLOPs per real token, for MFU: the forward pass (vocabulary projection where the loss is
    computed) and the backward a method needs: input gradients only when the base is frozen. Padding,
    recomputation and masked-out attention are not useful work."""
    forward = _linear_flops(shape, trained_fraction) + 2 * shape.layers * shape.heads * shape.head_dim * context
    return forward * (3 if full else 2)


def _linear_flops(shape: Shape, trained_fraction: float) -> float:
    """Forward FLOPs per token of every linear layer, the vocabulary projection at trained positions only."""
    embed = shape.embedding_params
    return 2 * (shape.params - embed * (1 if shape.tied else 2)) + 2 * embed * trained_fraction
