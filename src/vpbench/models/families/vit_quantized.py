"""DeiT-Tiny and Swin-Tiny: full precision (timm) and VVTQ W4A4/W3A3/W2A2 (docs/sources/models.md)."""

from __future__ import annotations

from functools import partial

from torch import nn

from vpbench.models.registry import ModelFamily, WeightSource, register_model
from vpbench.models.remaps import swin_official_to_timm
from vpbench.models.vvtq import DEIT_EIGHT_BIT, VvtqDeiT, vvtq_state_dict
from vpbench.models.vvtq_swin import SWIN_EIGHT_BIT, VvtqSwin


def _timm_model(name: str) -> nn.Module:
    """A randomly initialised timm model (timm is imported lazily: it is slow to import)."""
    import timm

    return timm.create_model(name, pretrained=False)


register_model(
    ModelFamily(
        name="deit_tiny",
        label="DeiT-T",
        builder=lambda: _timm_model("deit_tiny_patch16_224"),
        weights=WeightSource(
            "deit_tiny_patch16_224-a1311bcf.pth",
            urls=("https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth",),
            sha256="a1311bcf",
        ),
        expected_sparsity=0.0,
        licence="Apache-2.0 (facebookresearch/deit)",
        description="DeiT-Tiny full precision (official release, dict key 'model'; VVTQ table top-1 73.75).",
    )
)
register_model(
    ModelFamily(
        name="swin_tiny",
        label="Swin-T",
        builder=lambda: _timm_model("swin_tiny_patch4_window7_224"),
        weights=WeightSource(
            "swin_tiny_patch4_window7_224.pth",
            urls=(
                "https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth",
            ),
            instructions="No checksum is published: the first download is pinned in the weights lock.",
        ),
        remap=swin_official_to_timm,
        expected_sparsity=0.0,
        licence="MIT (microsoft/Swin-Transformer)",
        description="Swin-Tiny full precision (official release, remapped to timm's layout; top-1 81.0).",
    )
)

_VVTQ_SHARE = "https://hkustconnect-my.sharepoint.com/:f:/g/personal/xhuangbs_connect_ust_hk/"
_VVTQ_FOLDERS = {
    ("deit", 4): ("EmsOhPWW83tIqeB8_bHoJwkBHQIlgFyDs45WvQtBdZ80iA?e=zjSkXC", 74.71),
    ("deit", 3): ("El-PoCPkBLxJoIt1q5QAZPsBR6r03LtD6GT0E_JsEOa8UQ?e=jFaRmR", 71.22),
    ("deit", 2): ("EsFXkkBx5o5MmLmnOOBF5kgBrMvski1KK-tHhXG9pZdZOQ?e=2HCrSb", 59.73),
    ("swin", 4): ("EkKkcCGrejJHl8ENdydFk_EBashaw8UHbO9UhLcWSL9img?e=91aNWe", 82.42),
    ("swin", 3): ("EtfaRgHlLuxNss6w42yHf2kBTkIyskg9rsRlPvBlOsS1Pg?e=tGDdCB", 81.37),
    ("swin", 2): ("Eud-4deIkJ9Dvrls0GWES1IBhl9Ej2bBfUy-7wPA3cf1xQ?e=BoyWB4", 77.66),
}
_ARCH = {
    "deit": (VvtqDeiT, DEIT_EIGHT_BIT, "deit_tiny", "DeiT-Tiny"),
    "swin": (VvtqSwin, SWIN_EIGHT_BIT, "swin_tiny", "Swin-Tiny"),
}

for (arch, bits), (folder, top1) in _VVTQ_FOLDERS.items():
    module, eight_bit, parent, label = _ARCH[arch]
    filename = f"{arch}_t_w{bits}a{bits}.tar"
    register_model(
        ModelFamily(
            name=f"vvtq_{arch}_tiny_w{bits}a{bits}",
            label=f"{label} W{bits}A{bits} (VVTQ)",
            builder=partial(module, bits),
            weights=WeightSource(
                filename,
                status="at risk",
                instructions=(
                    f"VVTQ publishes it only in a OneDrive folder share that needs a browser: {_VVTQ_SHARE}"
                    f"{folder} . Download the checkpoint there and save it as {filename}. The file holds "
                    "{epoch, arch, state_dict, best_acc1, optimizer}; if torch refuses to load it with "
                    "weights_only=True, extract state_dict once in a sandbox and place that instead."
                ),
            ),
            remap=vvtq_state_dict,
            expected_bits=bits,
            technique="vvtq",
            dense_parent=parent,
            eight_bit_modules=tuple(eight_bit),
            published_top1=top1,
            published_top1_source="HuangOwen/VVTQ README",
            licence="not stated by HuangOwen/VVTQ; research use",
            description=(
                f"{label} quantized by VVTQ to W{bits}A{bits} (LSQ, 8-bit patch embedding and head; top-1 "
                f"{top1}); VVTQ-compatible modules, strict load, bit-widths asserted from the checkpoint."
            ),
        )
    )
