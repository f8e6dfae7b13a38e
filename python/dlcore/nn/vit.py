"""The Vision Transformer's input block (Dosovitskiy et al., 2021, "An Image
is Worth 16x16 Words"): cut the image into patches, embed each linearly,
prepend a class token, add a learned position embedding. A dlcore addition
(torch has no such module); parameter names follow timm's VisionTransformer
(``proj.weight`` as in ``patch_embed.proj``, ``cls_token``, ``pos_embed``)."""

from __future__ import annotations

import dlcore

from . import init
from .conv import Conv2d
from .module import Module, Parameter

__all__ = ["PatchEmbedding"]


def _pair(v):
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(x) for x in v)


class PatchEmbedding(Module):
    r"""``(B, C, H, W)`` images -> ``(B, N + 1, D)`` tokens (``(B, N, D)``
    without the class token), ``N = (H / patch) · (W / patch)``.

    The patch projection is a ``Conv2d`` with kernel = stride = patch size
    (one matrix product per patch, i.e. the paper's linear patch embedding),
    flattened to ``(B, N, D)`` in row-major patch order; the learned
    ``cls_token`` ``(1, 1, D)`` is prepended and the learned ``pos_embed``
    ``(1, N + 1, D)`` added. Initialisation as timm: ``pos_embed`` from a
    ``trunc_normal_(std=0.02)``, ``cls_token`` from N(0, 1e-6²).

    Args:
        img_size: int or (H, W). Default 224. patch_size: int or (ph, pw). Default 16.
        in_chans: image channels C. Default 3. embed_dim: token width D. Default 768.
        cls_token: prepend a class token. Default True.

    Examples::

        >>> pe = dlcore.nn.PatchEmbedding(img_size=8, patch_size=4, in_chans=1, embed_dim=6)
        >>> tuple(pe(dlcore.randn(2, 1, 8, 8)).shape), pe.num_patches
        ((2, 5, 6), 4)
        >>> sorted(pe.state_dict())
        ['cls_token', 'pos_embed', 'proj.bias', 'proj.weight']
    """

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, cls_token=True, dtype=None):
        super().__init__()
        self.img_size, self.patch_size = _pair(img_size), _pair(patch_size)
        if any(s % p for s, p in zip(self.img_size, self.patch_size)):
            raise ValueError(f"PatchEmbedding: img_size {self.img_size} is not divisible by patch_size {self.patch_size}")
        self.grid_size = tuple(s // p for s, p in zip(self.img_size, self.patch_size))
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.embed_dim = embed_dim
        self.proj = Conv2d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size, dtype=dtype)
        dtype = dtype or dlcore.float32
        n_tok = self.num_patches + (1 if cls_token else 0)
        if cls_token:
            self.cls_token = Parameter(dlcore.zeros(1, 1, embed_dim, dtype=dtype))
        else:
            self.register_parameter("cls_token", None)
        self.pos_embed = Parameter(dlcore.zeros(1, n_tok, embed_dim, dtype=dtype))
        init.trunc_normal_(self.pos_embed, std=0.02)
        if cls_token:
            init.normal_(self.cls_token, std=1e-6)

    def forward(self, x):
        if x.ndim != 4 or tuple(x.shape[2:]) != self.img_size:
            raise RuntimeError(f"PatchEmbedding: expected input (B, C, {self.img_size[0]}, {self.img_size[1]}), got {tuple(x.shape)}")
        B = x.shape[0]
        x = self.proj(x).flatten(2).transpose(1, 2)  # (B, D, gh, gw) -> (B, N, D)
        if self.cls_token is not None:
            x = dlcore.cat([self.cls_token.expand(B, 1, self.embed_dim), x], dim=1)  # (B, N + 1, D)
        return x + self.pos_embed

    def extra_repr(self) -> str:
        return f"img_size={self.img_size}, patch_size={self.patch_size}, embed_dim={self.embed_dim}"
