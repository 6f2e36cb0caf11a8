"""CLIP ViT-L/14: OpenAI zero-shot weights, UPop's COCO-retrieval models dense and 2×/4×
(docs/sources/models.md).

The OpenAI ``.pt`` files are TorchScript archives that ``weights_only=True`` cannot open, so the dense
model uses the plain state dict open_clip's Hugging Face mirror serves (pinned first-seen). The zero-shot
224 px model and UPop's 336 px COCO-finetuned model are different models; plots must say which one.
"""

from __future__ import annotations

from vpbench.models.clip_upop import build_clip, build_upop_clip, openai_clip_config, upop_state_dict
from vpbench.models.registry import CLIP_MEAN, CLIP_STD, ModelFamily, WeightSource, register_model

_HF_OPENAI_224 = (
    "https://huggingface.co/timm/vit_large_patch14_clip_224.openai/resolve/main/open_clip_pytorch_model.bin"
)
_OPENAI_TORCHSCRIPT = (
    "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/"
    "ViT-L-14.pt"
)

register_model(
    ModelFamily(
        name="clip_vit_l14_openai",
        label="CLIP ViT-L/14",
        builder=lambda: build_clip(openai_clip_config("ViT-L-14-quickgelu")),
        weights=WeightSource(
            "vit_large_patch14_clip_224.openai.bin",
            urls=(_HF_OPENAI_224,),
            instructions=(
                "Plain state dict from open_clip's Hugging Face mirror (no checksum published: pinned "
                f"first-seen). The OpenAI original {_OPENAI_TORCHSCRIPT} is TorchScript, which "
                "weights_only=True refuses."
            ),
        ),
        mean=CLIP_MEAN,
        std=CLIP_STD,
        input_size=224,
        kind="clip",
        licence="MIT (OpenAI CLIP)",
        description="OpenAI CLIP ViT-L/14 at 224 px, zero-shot weights, open_clip ViT-L-14-quickgelu.",
    )
)

_UPOP_336 = "ViT-L-14-336-quickgelu"
_UPOP = {
    "uncompressed": ("10p1oPdiMUqo0MfPul5hCb_h9mCaNCh6q", "none", None),
    "2x": ("184sBFSArAXfxkd8ZqlF8xsZCOOsNmT0z", "upop", "upop_clip_vit_l14_336_coco_uncompressed"),
    "4x": ("1C3LRQZ2IP7St813ERH7LidTcQP99xhKw", "upop", "upop_clip_vit_l14_336_coco_uncompressed"),
}

for level, (drive_id, compression, parent) in _UPOP.items():
    register_model(
        ModelFamily(
            name=f"upop_clip_vit_l14_336_coco_{level}",
            label=f"CLIP ViT-L/14@336 (UPop {level})",
            builder=lambda: build_clip(openai_clip_config(_UPOP_336)),
            weights=WeightSource(
                f"upop_clip_vit_l14_336_coco_{level}.pth",
                gdrive_id=drive_id,
                status="at risk",
                instructions=(
                    f"Google Drive file {drive_id} from the sdc17/UPop README (no checksum published: pinned "
                    "first-seen). If Drive refuses (quota), download it in a browser and rename it."
                ),
            ),
            remap=upop_state_dict,
            state_builder=lambda state: build_upop_clip(state, openai_clip_config(_UPOP_336)),
            mean=CLIP_MEAN,
            std=CLIP_STD,
            input_size=336,
            kind="clip",
            technique=compression,
            dense_parent=parent,
            licence="see sdc17/UPop (not verified offline); base CLIP weights MIT (OpenAI)",
            description=(
                f"UPop COCO-retrieval CLIP ViT-L/14@336, {level}: per-layer pruned attention head-dims and "
                "MLP widths rebuilt from the checkpoint shapes; momentum towers and queues dropped."
            ),
        )
    )
