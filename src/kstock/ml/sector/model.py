"""``SectorAwareFusionModel``: a linear-attention transformer over the window, a small CNN over the
chart, a fusion layer, a common head and 13 sector heads (the LASPS design, DESIGN §3).

Routing (``forward(ts, img, sector_id, phase)``):

* phase 1 → every sample goes through ``common_head``;
* phases 2 and 3 → each sample goes through the head of its sector, ``sector_heads[sector_id]``.
  Two cases answer with ``common_head`` instead, and the returned ``head`` says so with −1:
  an unknown sector (id −1: a stock no source could classify — never sent to a default sector,
  which is how the earlier design lumped half the market into one head), and a sector whose head
  was never trained (``head_active`` is False: a fresh model, or a sector with fewer than
  ``min_samples`` training samples, whose head keeps the common head's weights).

``head_active`` is a buffer saved with the weights, so a checkpoint routes the same way wherever it
is loaded. The input width is the ``n_features`` the model is built with and every batch is
checked against it (the earlier design hard-coded 25 while the data had 28 columns).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

N_CLASSES = 3
COMMON_HEAD = -1


class LinearAttention(nn.Module):
    """Multi-head linear attention (Katharopoulos et al. 2020): φ(x) = elu(x) + 1, O(L·d²), not O(L²·d)."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.n_heads, d // self.n_heads).unbind(2)  # (b, L, h, dh)
        q, k = F.elu(q) + 1.0, F.elu(k) + 1.0  # positive feature maps
        kv = torch.einsum("blhd,blhe->bhde", k, v)
        norm = torch.einsum("blhd,bhd->blh", q, k.sum(dim=1)).clamp_min(1e-6)
        y = torch.einsum("blhd,bhde->blhe", q, kv) / norm.unsqueeze(-1)
        return self.out(y.reshape(b, length, d))


class EncoderBlock(nn.Module):
    """Pre-norm block: x + attention(LN x), then x + feed-forward(LN x).

    No dropout inside the encoder: on a CPU the random masks over (batch × 60 days × width) cost
    more than the attention itself; the fusion layer and the heads carry the dropout.
    """

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = LinearAttention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ff(self.norm2(x))


class SeriesEncoder(nn.Module):
    """(B, window, n_features) → (B, 2·d_model): mean over days and the last day, after the blocks."""

    def __init__(self, n_features: int, window: int, d_model: int, n_heads: int, n_layers: int) -> None:
        super().__init__()
        self.proj = nn.Linear(n_features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, window, d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList([EncoderBlock(d_model, n_heads) for _ in range(n_layers)])
        self.norm = nn.LayerNorm(d_model)
        self.out_dim = 2 * d_model

    def forward(self, ts: torch.Tensor) -> torch.Tensor:
        x = self.proj(ts) + self.pos
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return torch.cat([x.mean(dim=1), x[:, -1]], dim=1)


class ChartCNN(nn.Module):
    """Small CNN over the chart: a patchify stem, then stride-2 conv blocks down to ≤ 8 px, avg ‖ max pooled.

    The stem is a ``P × P`` convolution with stride ``P = max(1, img_size // 32)``, so every size
    is brought to about 32 × 32 before the 3 × 3 blocks (16 → 32 → 64 channels): 64 px → P = 2, 224 px
    → P = 7 (a 7 × 7 patch is about two days of the 60). Every pixel is seen once by the stem; the
    cost of a larger image is then only the stem and the rasteriser, not every layer (a plain
    stride-1 CNN at 224 px trained at ~10 samples/s on 2 CPU cores). GroupNorm, not BatchNorm: no
    running statistics, so a frozen backbone really is frozen and halving the batch after an
    out-of-memory error changes nothing.
    """

    def __init__(self, img_size: int, channels: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        patch = max(1, img_size // 32)
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], patch, stride=patch), nn.GELU()]
        c_in, size, i = channels[0], img_size // patch, 1
        while size > 8 or i == 1:
            c_out = channels[min(i, len(channels) - 1)]
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.GroupNorm(8, c_out), nn.GELU()]
            c_in, size, i = c_out, (size + 1) // 2, i + 1
        self.features = nn.Sequential(*layers)
        self.out_dim = 2 * c_in

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.features(img)
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


def _head(d_in: int, hidden: int, dropout: float, n_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))


class SectorAwareFusionModel(nn.Module):
    """Window transformer + chart CNN → fused features → common head / 13 sector heads (3 classes)."""

    def __init__(self, n_features: int = 28, window: int = 60, img_size: int = 64, d_model: int = 64,
                 n_heads: int = 4, n_layers: int = 2, n_sectors: int = 13, n_classes: int = N_CLASSES,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.config = {"n_features": n_features, "window": window, "img_size": img_size, "d_model": d_model,
                       "n_heads": n_heads, "n_layers": n_layers, "n_sectors": n_sectors, "n_classes": n_classes,
                       "dropout": dropout}
        self.n_features, self.window, self.img_size = n_features, window, img_size
        self.n_sectors, self.n_classes = n_sectors, n_classes
        self.ts_encoder = SeriesEncoder(n_features, window, d_model, n_heads, n_layers)
        self.cnn = ChartCNN(img_size)
        fused = 2 * d_model
        self.fusion = nn.Sequential(
            nn.Linear(self.ts_encoder.out_dim + self.cnn.out_dim, fused), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(fused, fused), nn.GELU(),
        )
        self.common_head = _head(fused, d_model, dropout, n_classes)
        self.sector_heads = nn.ModuleList([_head(fused, d_model, dropout, n_classes) for _ in range(n_sectors)])
        self.register_buffer("head_active", torch.zeros(n_sectors, dtype=torch.bool))
        self._backbone_frozen = False

    # -- parts ----------------------------------------------------------------------------------
    def backbone_modules(self) -> list[nn.Module]:
        """What phase 2 freezes: encoder, CNN, fusion — and the common head (trained in phase 1)."""
        return [self.ts_encoder, self.cnn, self.fusion, self.common_head]

    def encode(self, ts: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        """The shared representation (B, 2·d_model) of a batch; ``img`` may be uint8 (0–255)."""
        if ts.dim() != 3 or ts.shape[1:] != (self.window, self.n_features):
            raise ValueError(f"ts must be (B, {self.window}, {self.n_features}), got {tuple(ts.shape)}: "
                             "the model's input width comes from its config and the data must match it")
        if img.dim() != 4 or img.shape[1:] != (3, self.img_size, self.img_size):
            raise ValueError(f"img must be (B, 3, {self.img_size}, {self.img_size}), got {tuple(img.shape)}")
        if img.dtype == torch.uint8:
            img = img.to(ts.dtype) / 255.0
        return self.fusion(torch.cat([self.ts_encoder(ts), self.cnn(img)], dim=1))

    def route(self, sector_id: torch.Tensor) -> torch.Tensor:
        """The head each sample uses in phases 2–3: its sector id, or −1 (common head) when unknown/inactive."""
        sid = sector_id.long()
        if ((sid < -1) | (sid >= self.n_sectors)).any():
            raise ValueError(f"sector ids must be in [-1, {self.n_sectors - 1}]")
        active = self.head_active[sid.clamp_min(0)] & (sid >= 0)
        return torch.where(active, sid, torch.full_like(sid, COMMON_HEAD))

    def forward(self, ts: torch.Tensor, img: torch.Tensor, sector_id: torch.Tensor,
                phase: int = 2) -> dict[str, torch.Tensor]:
        """``{"logits": (B, n_classes), "head": (B,) head used (−1 = common)}``; see the module doc."""
        if phase not in (1, 2, 3):
            raise ValueError(f"phase must be 1, 2 or 3, got {phase!r}")
        feat = self.encode(ts, img)
        if phase == 1:
            head = torch.full((feat.shape[0],), COMMON_HEAD, dtype=torch.long, device=feat.device)
            return {"logits": self.common_head(feat), "head": head}
        head = self.route(sector_id.to(feat.device))
        logits = feat.new_zeros((feat.shape[0], self.n_classes))
        for h in torch.unique(head).tolist():
            idx = torch.nonzero(head == h).squeeze(1)
            module = self.common_head if h == COMMON_HEAD else self.sector_heads[h]
            logits = logits.index_copy(0, idx, module(feat.index_select(0, idx)).to(logits.dtype))
        return {"logits": logits, "head": head}

    # -- phases ---------------------------------------------------------------------------------
    @torch.no_grad()
    def init_sector_heads_from_common(self, active: object = None) -> None:
        """Copy the common head's weights into every sector head; ``active`` (sector ids, a bool mask,
        or None = all) says which heads will answer from now on — the rest keep routing to the common head."""
        state = self.common_head.state_dict()
        for head in self.sector_heads:
            head.load_state_dict(state)
        self.set_active_heads(active)

    @torch.no_grad()
    def set_active_heads(self, active: object = None) -> None:
        mask = torch.zeros(self.n_sectors, dtype=torch.bool)
        if active is None:
            mask[:] = True
        else:
            values = torch.as_tensor(active)
            if values.dtype == torch.bool:
                mask[:] = values
            elif values.numel():
                mask[values.long()] = True
        self.head_active.copy_(mask.to(self.head_active.device))

    def freeze_backbone(self) -> None:
        """Phase 2: encoder, CNN, fusion and common head stop learning (and run in eval mode)."""
        for module in self.backbone_modules():
            module.requires_grad_(False)
        self._backbone_frozen = True
        self.train(self.training)

    def unfreeze_backbone(self) -> None:
        for module in self.backbone_modules():
            module.requires_grad_(True)
        self._backbone_frozen = False
        self.train(self.training)

    def train(self, mode: bool = True) -> SectorAwareFusionModel:
        super().train(mode)
        if self._backbone_frozen:  # frozen parts run deterministically (no dropout) while heads train
            for module in self.backbone_modules():
                module.eval()
        return self


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017) with per-class weights: mean of −α_y (1 − p_y)^γ log p_y."""

    def __init__(self, class_weights: torch.Tensor | None = None, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(N_CLASSES))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.per_sample(logits, target).mean()

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=1).gather(1, target.view(-1, 1)).squeeze(1)
        weight = self.class_weights.to(logp.device)[target]
        return -weight * (1.0 - logp.exp()).pow(self.gamma) * logp
