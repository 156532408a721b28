"""Cross-entropy through a frozen vocabulary projection, its input gradient taken in the same pass, in one buffer (CPU).

Autograd's way (the projection, log_softmax, nll_loss, then their backward, and PEFT's swapped token rows) passes
over the [positions, vocab] logits about ten times and holds three such tensors at its peak; here one fp32 buffer
holds the logits, then the probabilities, then their gradient, changed in place. The buffer is laid out
[vocab, positions], the positions padded to a multiple of 8: MKL's fp32 matmul with the built-in's 262k x 640 head
ran 1.3-1.6x faster so than [positions, vocab] (2-core EPYC without AVX-512, 2026-12-05). In a low precision (bf16
autocast, a bf16 base) the matmuls go by slices of the vocabulary, so the head in the compute dtype (QLoRA's fp32
head under bf16) and the logits in it are never whole.

A full fine-tune's head, whose matrix trains, takes the same pass (CPU, one process): the buffer, turned into the
logits' gradient, is kept for backward, which adds the matrix's gradient to its `.grad` in place. Autograd's way
made a fresh vocab x hidden gradient (and its low-precision twin) for every chunk of every row: 1 GB for the
built-in, faulted in and added, about 2 s of a 1024-token row's 6.5 s on a 2-core CPU (bf16, 2026-12-07).
"""

from dataclasses import dataclass

import torch
import torch.distributed as dist

SLICE = 1 << 15  # vocabulary rows per low-precision matmul
PAD = 8


@dataclass
class Projection:
    """A bias-free vocabulary projection whose matrix is frozen, with PEFT's trained token rows if it has any."""
    weight: torch.Tensor  # [vocab, hidden]
    ids: torch.Tensor | None = None  # the trained rows' token ids
    rows: torch.Tensor | None = None  # their trained values, [len(ids), hidden]

    @property
    def learning(self) -> list[torch.Tensor]:
        return [self.rows] if self.rows is not None and self.rows.requires_grad else []


def frozen_projection(head, softcap, reading: bool = False) -> Projection | None:
    """The head as a Projection; None where autograd takes its gradients instead (a matrix that trains, a bias,
    soft-capped logits, another kind of layer or adapter). reading: no gradient is wanted (an evaluation), so a
    matrix that trains is read like a frozen one, by slices: through the module, autocast would keep a bf16 copy of
    the whole fp32 matrix (the built-in's: 335 MB) to the evaluation's end."""
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

    layer, ids, rows = getattr(head, "token_adapter", head), None, None  # PEFT wraps its token layer
    if isinstance(layer, TrainableTokensLayer):
        tokens = layer
        if getattr(head, "disable_adapters", False) or tokens.disable_adapters or tokens.merged \
                or len(tokens.active_adapters) != 1:
            return None
        name = tokens.active_adapters[0]
        layer, rows = tokens.base_layer, tokens.trainable_tokens_delta[name]
        ids = torch.tensor(tokens.token_indices[name], device=rows.device)
    trains = layer.weight.requires_grad and not reading
    if softcap or type(layer) is not torch.nn.Linear or layer.bias is not None or trains:
        return None
    if layer.weight.device.type != "cpu":  # not yet measured on CUDA or MPS, whose plans count autograd's way
        return None
    if not reading and any(p is not rows for p in head.parameters() if p.requires_grad):
        return None
    return Projection(layer.weight, ids, rows)


def in_place_gradient(weight: torch.Tensor) -> bool:
    """Whether a trained weight's gradient may be added to its `.grad` directly, outside autograd's accumulation:
    on CPU, in one process (DDP and FSDP exchange gradients from hooks on that accumulation)."""
    return weight.requires_grad and weight.device.type == "cpu" and not (dist.is_available() and dist.is_initialized())


def trained_projection(head, softcap) -> torch.Tensor | None:
    """The head's matrix where it trains and takes the one-buffer pass (a plain bias-free Linear, no soft cap)."""
    if softcap or type(head) is not torch.nn.Linear or head.bias is not None:
        return None
    return head.weight if in_place_gradient(head.weight) else None


def cross_entropy(p: Projection, hidden: torch.Tensor, targets: torch.Tensor,
                  gradients: bool) -> tuple[torch.Tensor, tuple]:
    """Each position's cross-entropy (fp32, [n]) and, if asked, the gradients of their sum: for hidden ([n, hidden];
    row t is position t's own) and for the trained rows (as p.learning lists them)."""
    dtype = _compute_dtype(p.weight, hidden.device.type)
    with torch.autocast(hidden.device.type, enabled=False):
        losses, buffer, columns = _losses(p, hidden, targets, gradients, dtype)
        if not gradients:
            return losses, ()
        grads = (_input_gradient(p, buffer, columns.dtype)[:, :len(targets)].t().to(hidden.dtype),)
        if p.learning:
            grads += (buffer[p.ids, :len(targets)] @ hidden.detach().float(),)
    return losses, grads


def trained_cross_entropy(weight: torch.Tensor, hidden: torch.Tensor,
                          targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """Through a matrix that trains: each position's cross-entropy, the gradient of their sum for hidden, and what
    add_weight_gradient needs for the matrix's (the logits' gradient and the positions, both padded)."""
    dtype = _compute_dtype(weight, hidden.device.type)  # bf16 under autocast: the fp32 matrix goes by slices
    with torch.autocast(hidden.device.type, enabled=False):
        losses, buffer, columns = _losses(Projection(weight), hidden, targets, True, dtype)
        grad = _input_gradient(Projection(weight), buffer, columns.dtype)[:, :len(targets)].t().to(hidden.dtype)
    return losses, grad, (buffer, columns)


def add_weight_gradient(weight: torch.Tensor, kept: tuple) -> None:
    """weight.grad += (the logits' gradient, already scaled) @ the positions, in place, by slices in the compute
    dtype."""
    buffer, columns = kept
    grad, inputs = gradient_of(weight), columns.t()
    for start in range(0, len(weight), SLICE):
        part = buffer[start:start + SLICE]
        if columns.dtype == torch.float32:
            grad[start:start + SLICE].addmm_(part, inputs)
        else:
            grad[start:start + SLICE].add_(part.to(columns.dtype) @ inputs)


def gradient_of(weight: torch.Tensor) -> torch.Tensor:
    """The weight's .grad to add into, made (zeros) at the first addition of a step."""
    if weight.grad is None:
        weight.grad = torch.zeros_like(weight)
    return weight.grad


def _losses(p: Projection, hidden: torch.Tensor, targets: torch.Tensor, gradients: bool, dtype: torch.dtype) -> tuple:
    """Each position's cross-entropy, the [vocab, positions] buffer (the logits' gradient if asked), and the
    positions as [hidden, positions] columns in the compute dtype (zero at the padding)."""
    n = len(targets)
    columns = hidden.new_zeros(hidden.shape[1], -(-n // PAD) * PAD, dtype=dtype)
    columns[:, :n] = hidden.detach().t()
    buffer = _logits(p, columns, dtype)
    positions = torch.arange(n, device=hidden.device)
    target = buffer[targets, positions]
    top = _column_max(buffer)
    buffer.sub_(top).exp_()
    total = buffer.sum(0)
    losses = (total.log() + top)[:n] - target
    if gradients:
        buffer.div_(total)  # probabilities; minus one at the target: the gradient of the loss for each logit
        buffer[targets, positions] -= 1
        buffer[:, n:] = 0  # the padding positions
    return losses, buffer, columns


def _column_max(buffer: torch.Tensor) -> torch.Tensor:
    # amax(0) over [262144, 56] took 30 ms, by groups of 8 rows first 8 ms (the same maxima)
    if len(buffer) % 8:
        return buffer.amax(0)
    return buffer.view(-1, 8, buffer.shape[1]).amax(1).amax(0)


def _compute_dtype(weight: torch.Tensor, device_type: str) -> torch.dtype:
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else weight.dtype


def _logits(p: Projection, columns: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[vocab, positions] fp32 logits, the trained rows swapped in."""
    weight = p.weight
    if weight.dtype == dtype == torch.float32:
        buffer = weight @ columns
    else:
        buffer = columns.new_empty(len(weight), columns.shape[1], dtype=torch.float32)
        for start in range(0, len(weight), SLICE):
            buffer[start:start + SLICE] = weight[start:start + SLICE].to(dtype) @ columns
    if p.ids is not None:
        buffer[p.ids] = (p.rows.to(dtype) @ columns).float()
    return buffer


def _input_gradient(p: Projection, buffer: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[hidden, positions]: the logits' gradient back through the projection (the trained rows where they are)."""
    weight = p.weight
    if weight.dtype == dtype == torch.float32:
        grad = weight.t() @ buffer
    else:
        grad = buffer.new_zeros(weight.shape[1], buffer.shape[1])
        for start in range(0, len(weight), SLICE):
            part = weight[start:start + SLICE].to(dtype)
            grad += (part.t() @ buffer[start:start + SLICE].to(dtype)).float()
    if p.ids is not None:  # those logits came from the trained rows, not from the matrix
        grad += (p.rows.float() - weight[p.ids].float()).t() @ buffer[p.ids]
    return grad
