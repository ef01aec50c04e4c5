"""The paper's figures (Figs. 2, 3, 5, 6, 8-13): one module per kind of figure.

Every figure is written as PDF + PNG with a JSON sidecar of the numbers it draws
(``style.save``); each module is an explicit input of its Snakemake rules
(workflow/rules/figures.smk), so editing one module reruns exactly the figures that use it.

    style        shared look, units, model labels, case selection and colours, save helper
    agreement    Bland-Altman and correlation plots (Figs. 8, 9)
    confusion    cac risk-group confusion matrices (Fig. 9)
    overlays     localization overlays (Figs. 8, 11, 12)
    errors       absolute-error box plots (Fig. 10)
    sample_size  rho / Dice against training-set size (Fig. 13)
    data         biomarker distributions per split (Figs. 2, 5, 6), risk groups (Fig. 3)
"""
