"""One packed row through the model: attention kept inside examples, loss only at trained positions.

The vocabulary projection is applied only to positions that train, in chunks of at most 32M logits, never kept for
backward: Gemma's 262k vocabulary would otherwise hold gigabytes of fp32 logits and their gradients. A frozen
projection's chunk takes its gradients in the forward pass, in one buffer (train/vocab_loss.py); so does one that
trains on CPU, whose matrix gradient backward adds in place, as it adds the embedding's rows (a full fine-tune, SFT
and the preference objectives alike); elsewhere one that trains is recomputed in backward.
"""

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from desktune.data.pack import IGNORE, Row
from desktune.plan.estimate import loss_chunk_rows
from desktune.train.vocab_loss import (add_weight_gradient, cross_entropy, frozen_projection, gradient_of,
                                       in_place_gradient, trained_cross_entropy, trained_projection)


def causal_lm(model):
    """The transformers *ForCausalLM under a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def attention_masks(config, row: Row, device):
    """Boolean [1,1,T,T] masks (True = may attend): causal, within one example and the shared prefix it continues,
    and within the sliding window (by position) for sliding layers. Models with layer types take a dict by type."""
    doc, context = row.doc_ids.to(device), row.context_ids.to(device)
    t = torch.arange(doc.numel(), device=device)
    full = ((doc[None, :] == doc[:, None]) | (doc[None, :] == context[:, None])) & (t[None, :] <= t[:, None])
    types = getattr(config, "layer_types", None)
    if not types:
        return full[None, None]
    window = getattr(config, "sliding_window", None)
    position = row.position_ids[0].to(device)
    masks = {}
    for kind in set(types):
        mask = full
        if kind == "sliding_attention" and window:
            mask = full & (position[:, None] - position[None, :] < window)
        masks[kind] = mask[None, None]
    return masks


def _trained_hidden(lm, row: Row, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The decoder's output at the row's trained positions, their targets, and the positions (a position that
    counts several times, as a call's decision token may, is there that many times: its loss adds up)."""
    if row.counts is None:
        keep = (row.targets[0] != IGNORE).nonzero().squeeze(1).to(device)
    else:
        keep = torch.arange(row.counts.numel()).repeat_interleave(row.counts).to(device)
    ids, embedding = row.input_ids.to(device), lm.get_input_embeddings()
    embedded = _EmbeddingRowsBehind.apply(ids, embedding.weight, embedding) if _rows_in_place(embedding) else None
    hidden = lm.get_decoder()(
        input_ids=None if embedded is not None else ids,
        inputs_embeds=embedded,
        position_ids=row.position_ids.to(device),
        attention_mask=attention_masks(lm.config, row, device),
        use_cache=False,
    ).last_hidden_state[0]
    return hidden.index_select(0, keep), row.targets[0].to(device).index_select(0, keep), keep


def row_loss_sum(model, row: Row, device) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the row's trained positions, and how many there are.
    Mixed precision comes from the caller's autocast context."""
    lm = causal_lm(model)
    hidden, targets, keep = _trained_hidden(lm, row, device)
    head = lm.get_output_embeddings()
    softcap = getattr(lm.config, "final_logit_softcapping", None)
    total = hidden.new_zeros((), dtype=torch.float32)
    trains = head_trains(head, lm.config.vocab_size)
    chunk = loss_chunk_rows(lm.config.vocab_size, trains)
    learning = [p for p in head.parameters() if p.requires_grad]  # trained token rows, under an adapter
    for start in range(0, keep.numel(), chunk):
        h, y = hidden[start:start + chunk], targets[start:start + chunk]
        if torch.is_grad_enabled() and not trains:
            total = total + _GradientsAhead.apply(h, y, head, softcap, *learning)
        elif torch.is_grad_enabled() and (matrix := trained_projection(head, softcap)) is not None:
            total = total + _MatrixGradientBehind.apply(h, y, matrix).sum()
        else:
            total = total + checkpoint(_chunk_loss, h, y, head, softcap, use_reentrant=False)
    return total, keep.numel()


def head_trains(head, vocab: int) -> bool:
    """Whether the vocabulary projection's own matrix trains (a full fine-tune). Read from its parameters: the
    `weight` of a head with PEFT trained token rows builds the whole merged vocab x hidden matrix at each access."""
    return any(p.requires_grad and p.shape[0] == vocab for p in head.parameters())


def _logits(hidden, head, softcap):
    logits = head(hidden).float()  # the module, not its weight: trained token rows (PEFT) live in its forward
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return logits


def _chunk_loss(hidden, targets, head, softcap):
    return _token_losses(hidden, targets, head, softcap).sum()


def _chunk_logps(hidden, targets, head, softcap):
    return -_token_losses(hidden, targets, head, softcap)


def _token_losses(hidden, targets, head, softcap):
    projection = None if torch.is_grad_enabled() else frozen_projection(head, softcap, reading=True)
    if projection is not None:  # no gradients wanted: one buffer of logits, not autograd's several
        return cross_entropy(projection, hidden, targets, gradients=False)[0]
    return F.cross_entropy(_logits(hidden, head, softcap), targets, reduction="none")


def sequence_logps(model, row: Row, device, n_docs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example of the row (doc ids 0..n_docs-1): the summed log-probability of its trained tokens and how
    many there are, as fp32 [n_docs] tensors. The vocabulary projection runs in chunks, as for row_loss_sum."""
    lm = causal_lm(model)
    hidden, targets, keep = _trained_hidden(lm, row, device)
    docs = row.doc_ids.to(device).index_select(0, keep)
    head = lm.get_output_embeddings()
    softcap = getattr(lm.config, "final_logit_softcapping", None)
    trains = head_trains(head, lm.config.vocab_size)
    frozen = not trains and not any(p.requires_grad for p in head.parameters())
    sums, chunk = hidden.new_zeros(n_docs, dtype=torch.float32), loss_chunk_rows(lm.config.vocab_size, trains)
    for start in range(0, keep.numel(), chunk):
        h, y = hidden[start:start + chunk], targets[start:start + chunk]
        if torch.is_grad_enabled() and frozen:
            logps = _LogpsAhead.apply(h, y, head, softcap)
        elif torch.is_grad_enabled() and (matrix := trained_projection(head, softcap)) is not None:
            logps = -_MatrixGradientBehind.apply(h, y, matrix)
        elif torch.is_grad_enabled():
            logps = checkpoint(_chunk_logps, h, y, head, softcap, use_reentrant=False)
        else:
            logps = _chunk_logps(h, y, head, softcap)
        sums = sums.index_add(0, docs[start:start + chunk], logps)
    counts = torch.zeros(n_docs, device=device).index_add(0, docs, torch.ones_like(docs, dtype=torch.float32))
    return sums, counts


class _GradientsAhead(torch.autograd.Function):
    """One loss chunk whose gradients are computed in the forward pass and only scaled in backward: the vocabulary
    projection then runs twice (forward, input gradient) instead of three times (checkpointing recomputes it).
    Only for a head whose own matrix is frozen: its small trained parts (token rows) come in as `learning`."""

    @staticmethod
    def forward(ctx, hidden, targets, head, softcap, *learning):
        projection = frozen_projection(head, softcap)
        if projection is not None and len(projection.learning) == len(learning):
            losses, ctx.grads = cross_entropy(projection, hidden, targets, gradients=True)
            return losses.sum()
        with torch.enable_grad():
            h = hidden.detach().requires_grad_()
            loss = _chunk_loss(h, targets, head, softcap)
            ctx.grads = torch.autograd.grad(loss, (h, *learning))
        return loss.detach()

    @staticmethod
    def backward(ctx, scale):
        grads, ctx.grads = ctx.grads, None
        return grads[0] * scale.to(grads[0].dtype), None, None, None, *(g * scale for g in grads[1:])


class _MatrixGradientBehind(torch.autograd.Function):
    """Per-token losses of one chunk through a head whose matrix trains (CPU, one process): the logits' gradient is
    taken in the forward pass and kept; backward scales each position's column by its own incoming gradient and adds
    the matrix's gradient to its .grad in place (vocab_loss.py says why)."""

    @staticmethod
    def forward(ctx, hidden, targets, weight):
        losses, ctx.grad, ctx.kept = trained_cross_entropy(weight, hidden, targets)
        ctx.weight = weight
        return losses

    @staticmethod
    def backward(ctx, scale):
        grad, (buffer, columns), ctx.grad, ctx.kept = ctx.grad, ctx.kept, None, None
        buffer[:, :len(scale)].mul_(scale.float())
        add_weight_gradient(ctx.weight, (buffer, columns))
        return grad * scale.to(grad.dtype)[:, None], None, None


def _rows_in_place(embedding) -> bool:
    """Whether the token embedding is a plain lookup (scaled, as Gemma's) whose trained matrix may take its
    gradient in place, by rows: autograd's embedding backward makes a whole vocab x hidden gradient for each row."""
    plain = type(embedding) is torch.nn.Embedding or type(embedding).__name__.endswith("TextScaledWordEmbedding")
    return (torch.is_grad_enabled() and plain and in_place_gradient(embedding.weight)
            and embedding.max_norm is None and not embedding.scale_grad_by_freq and not embedding.sparse)


class _EmbeddingRowsBehind(torch.autograd.Function):
    """The embedding's lookup; backward adds the looked-up rows' gradients to the matrix's .grad in place (the
    padding token's row, as torch's own lookup, gets none)."""

    @staticmethod
    def forward(ctx, ids, weight, embedding):
        ctx.ids, ctx.weight, ctx.padding = ids, weight, embedding.padding_idx
        ctx.scale = float(getattr(embedding, "embed_scale", 1.0))  # Gemma's lookup is multiplied by it
        return embedding(ids)

    @staticmethod
    def backward(ctx, grad):
        weight, ids = ctx.weight, ctx.ids.reshape(-1)
        rows = grad.reshape(len(ids), -1).to(weight.dtype) * ctx.scale
        if ctx.padding is not None:
            rows[ids == ctx.padding] = 0
        gradient_of(weight).index_add_(0, ids, rows)
        return None, None, None


class _LogpsAhead(torch.autograd.Function):
    """Per-token log-probabilities of one chunk through a frozen head, their gradients taken in the forward pass:
    token t's log-probability depends on hidden[t] alone, so the gradient of their sum holds each token's own,
    and backward only scales row t by its incoming gradient (the projection runs twice, not three times)."""

    @staticmethod
    def forward(ctx, hidden, targets, head, softcap):
        projection = frozen_projection(head, softcap)
        if projection is not None and not projection.learning:
            losses, (grad,) = cross_entropy(projection, hidden, targets, gradients=True)
            ctx.grad = -grad
            return -losses
        with torch.enable_grad():
            h = hidden.detach().requires_grad_()
            logps = _chunk_logps(h, targets, head, softcap)
            (ctx.grad,) = torch.autograd.grad(logps.sum(), h)
        return logps.detach()

    @staticmethod
    def backward(ctx, scale):
        grad, ctx.grad = ctx.grad, None
        return grad * scale.to(grad.dtype)[:, None], None, None, None


class RowLoss(torch.nn.Module):
    """row_loss_sum as a module, so that torch DDP sees the forward pass it synchronises gradients for."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, row: Row) -> tuple[torch.Tensor, int]:
        return row_loss_sum(self.model, row, next(self.model.parameters()).device)


class SequenceLogps(torch.nn.Module):
    """sequence_logps as a module (for DDP, as RowLoss): a row of preference pairs in, per-side sums out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, row: Row, n_docs: int) -> tuple[torch.Tensor, torch.Tensor]:
        return sequence_logps(self.model, row, next(self.model.parameters()).device, n_docs)


@torch.no_grad()
def loss_and_count(model, rows: list[Row], device) -> tuple[float, int]:
    """Summed token loss over rows and the number of tokens it covers."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for row in rows:
        # the loss module itself when it is sharded: its forward gathers the weights
        loss, n = model(row) if isinstance(model, RowLoss) else row_loss_sum(model, row, device)
        total, count = total + loss.item(), count + n
    model.train(was_training)
    return total, count


def mean_loss(model, rows: list[Row], device) -> float:
    """Mean token loss over rows (the held-out loss)."""
    total, count = loss_and_count(model, rows, device)
    return total / max(count, 1)
