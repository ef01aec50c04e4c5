"""Paper labels shared by tables and figures: a module with no imports, so figure jobs need no
statistics packages and table jobs no plotting ones."""

#: Model order (tables, figure panels) and the paper's labels. The first four are the baselines
#: without learning (rlnet.baselines): no training job, evaluated like the models; their names
#: and labels say "rule" or "candidates", never "baseline" (the paper's trained CNN).
MODEL_LABELS: dict[str, str] = {
    "candidates": "Candidates (calibrated)",
    "rule": "Fixed rule",
    "heart-rule": "Heart-region rule",
    "skin-rule": "Skin-distance rule",
    "baseline": "Baseline",
    "enc-unet": "Enc(U-Net)",
    "enc-senet": "Enc(SE-Net)",
    "enc-sdnet": "Enc(SD-Net)",
    "rl-unet": "RL-U-Net",
    "rl-senet": "RL-SE-Net",
    "rl-sdnet": "RL-SD-Net",
    "seg-unet": "U-Net (seg)",
}

#: The baselines without learning, in MODEL_LABELS order.
BASELINES: tuple[str, ...] = ("candidates", "rule", "heart-rule", "skin-rule")
