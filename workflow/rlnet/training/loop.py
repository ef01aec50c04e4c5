"""The training loop: Adam, early stopping on validation loss, best checkpoint kept, resumable.

A checkpoint (model, optimiser, early-stopping state, history, RNG state) is written atomically
after every epoch to a folder *outside* the rule's outputs, so a job killed by the OS or a
SLURM preemption resumes from its last finished epoch when re-run, and reaches the same final
weights as an uninterrupted run (every random draw derives from the seed and the epoch).
"""

import contextlib
import copy
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from rlnet import atomic, tsv
from rlnet.correlation import pearson_r
from rlnet.models import build_model, model_family
from rlnet.models.seg import seg_loss
from rlnet.prepare import Prepared
from rlnet.settings import identity
from rlnet.training import checkpoints
from rlnet.training import targets as target_rules
from rlnet.training.data import CaseDataset, subset_indices
from rlnet.training.device import autocast, resolve_device, seed_worker
from rlnet.training.run_spec import RunSpec

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message names model, problem, epoch."""


def _loss(model: torch.nn.Module, batch: dict, out, scale: float, direct_loss: str) -> torch.Tensor:
    """The family's loss: soft Dice + BCE (seg), MSE (rl), ``direct_loss`` (enc: "mae" or
    "mse") on the target scaled by ``scale``."""
    if model.family == "seg":
        return seg_loss(out.prob, batch["mask"])
    error = (out.value - batch["target"]) / scale
    squared = model.family == "rl" or direct_loss == "mse"
    return (error**2).mean() if squared else error.abs().mean()


class Trainer:
    """Trains one model on one problem; see ``fit``."""

    def __init__(self, spec: RunSpec, prepared_dir: str | Path, device: str = "auto") -> None:
        self.spec = spec
        self.settings = spec.settings
        self.prepared = Prepared.load(prepared_dir)
        self.device = resolve_device(device)
        family = model_family(spec.model)
        cases = self.prepared.cases  # row k is array index k
        self.column = target_rules.target_column(spec.settings.score, family)
        self.train_idx = subset_indices(self.prepared, spec.n, spec.seed, spec.rep)
        self.val_idx = self.prepared.indices("val")
        raw = cases[self.column].astype(float).to_numpy()
        case_ids = cases["case_id"].astype(str).to_numpy()
        self._check_training_split(raw[self.train_idx], family)
        with self._named_errors():
            self.transform = target_rules.effective_transform(self.settings, family)
            train_targets, val_targets = (
                target_rules.forward(raw[i], self.transform, list(case_ids[i]))
                for i in (self.train_idx, self.val_idx)
            )
            self.output_bias = self._output_bias(family, raw[self.train_idx])
        self.scale = float(max(np.mean(train_targets), 1e-6))
        self.direct_loss = self.settings.direct_loss
        bias = {} if self.output_bias is None else {"output_bias": self.output_bias}
        torch.manual_seed(spec.run_seed)
        self.model = build_model(
            spec.model, self.prepared.spatial_dims, self.settings.base_width, **bias
        ).to(self.device)
        if hasattr(self.model, "target_scale"):
            self.model.target_scale.fill_(self.scale)
        self.train_set = CaseDataset(
            self.prepared,
            self.train_idx,
            train_targets,
            self.settings.augment,
            spec.run_seed,
            epoch_size=self._epoch_size(),
        )
        self.val_set = CaseDataset(self.prepared, self.val_idx, val_targets, None, spec.run_seed)
        lr = self.settings.lr.of(self.model.family)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.scaler = torch.amp.GradScaler(
            enabled=self.device.type == "cuda" and self.settings.amp == "fp16"
        )

    @property
    def _name(self) -> str:
        return f"{self.spec.model} on {self.spec.problem}"

    @contextlib.contextmanager
    def _named_errors(self):
        """Re-raise a ``targets.TargetError`` as a TrainingError naming model and problem."""
        try:
            yield
        except target_rules.TargetError as err:
            raise TrainingError(f"{self._name}: {err}") from err

    def _output_bias(self, family: str, train_targets: np.ndarray) -> float | None:
        """The RL head's initial bias: the configured number, or with ``auto`` the training
        split's logit (``targets.auto_output_bias``; ``train_targets`` untransformed, in the
        candidate measure's units) plus the start's ``output_bias_shift``
        (``rlnet.training.starts``); None for the other families (they have no such layer)."""
        if family != "rl":
            return None
        setting = self.settings.output_bias
        if setting != "auto":
            return float(setting)
        derived = target_rules.auto_output_bias(self.prepared, self.train_idx, train_targets)
        return derived + float(self.settings.output_bias_shift)

    def _check_training_split(self, targets: np.ndarray, family: str) -> None:
        """Fail at once (TrainingError) on a training split a model cannot learn from: targets
        without spread, or no reference mask at all for a segmentation model."""
        if len(targets) and np.ptp(targets) == 0:
            raise TrainingError(
                f"{self._name}: the {len(targets)} training cases all have target "
                f"{self.column} = {targets[0]:g}; a regression target needs spread "
                f"(check the manifest)"
            )
        masks = self.prepared.masks
        if family == "seg" and not any(masks[i].any() for i in self.train_idx):
            raise TrainingError(
                f"{self._name}: the manifest has no masks for the training cases (masks.npy is all "
                f"zero on the training split); a segmentation model needs reference masks"
            )

    def _epoch_size(self) -> int:
        """Samples per epoch: the subset once, or with ``equal_steps`` as many as the whole
        training split (a subset run then takes the full run's optimiser steps per epoch)."""
        if self.settings.equal_steps:
            return max(len(self.prepared.indices("train")), len(self.train_idx))
        return len(self.train_idx)

    def _loader(self, dataset: CaseDataset, shuffle_epoch: int | None) -> DataLoader:
        workers = self.settings.num_workers
        generator = None
        if shuffle_epoch is not None:
            generator = torch.Generator().manual_seed(self.spec.run_seed + 7919 * shuffle_epoch)
        return DataLoader(
            dataset,
            batch_size=self.settings.batch_size,
            shuffle=shuffle_epoch is not None,
            generator=generator,
            num_workers=workers,
            worker_init_fn=seed_worker,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )

    def _to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _train_epoch(self, epoch: int) -> float:
        self.model.train()
        self.train_set.set_epoch(epoch)
        total, count = 0.0, 0
        for batch in self._loader(self.train_set, shuffle_epoch=epoch):
            batch = self._to_device(batch)
            with autocast(self.device, self.settings.amp):
                out = self.model(batch["image"], batch["candidates"], batch["voxel_size"])
                loss = _loss(self.model, batch, out, self.scale, self.direct_loss)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"{self.spec.model} on {self.spec.problem}: training loss is "
                    f"{loss.item()} at epoch {epoch}"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total += loss.item() * len(batch["target"])
            count += len(batch["target"])
        return total / max(count, 1)

    @torch.no_grad()
    def _validate(self) -> tuple[float, float]:
        """(mean validation loss, Pearson r of the predicted biomarker on validation); the
        loss in the learned (transformed) space, r in target units."""
        self.model.eval()
        total, count, preds, refs = 0.0, 0, [], []
        for batch in self._loader(self.val_set, shuffle_epoch=None):
            batch = self._to_device(batch)
            with autocast(self.device, self.settings.amp):
                out = self.model(batch["image"], batch["candidates"], batch["voxel_size"])
                loss = _loss(self.model, batch, out, self.scale, self.direct_loss)
            total += loss.item() * len(batch["target"])
            count += len(batch["target"])
            preds.append(out.value.float().cpu().numpy())
            refs.append(batch["target"].cpu().numpy())
        values = [target_rules.inverse(np.concatenate(v), self.transform) for v in (refs, preds)]
        return total / max(count, 1), pearson_r(*values)

    def _live_state(self) -> dict:
        """What a resume restores: model, optimiser, grad scaler, torch RNG."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def _load_live_state(self, state: dict) -> None:
        """Load the entries of ``_live_state`` from ``state`` (a checkpoint)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])

    def _checkpoint_state(self, epoch: int, state: dict) -> dict:
        return {"fingerprint": self.spec.fingerprint, "epoch": epoch, **self._live_state(), **state}

    def _resume(self, checkpoint: Path) -> dict | None:
        """The checkpoint's state, loaded into model, optimiser and RNG; None to start afresh.

        A checkpoint of another run or config is stale (the config changed since): training
        restarts and overwrites it, as Snakemake reruns a job whose params changed. One that
        cannot be loaded (truncated, empty, not a checkpoint) is renamed
        ``last.pt.corrupt-<n>``, kept for inspection, and training restarts.
        """
        state = checkpoints.load(checkpoint, self.device)
        if state is None:
            return None
        if state["fingerprint"] != self.spec.fingerprint:
            log.warning(
                "%s: checkpoint of another run or config (%s, this run %s): stale, "
                "training starts afresh and replaces it",
                checkpoint,
                state["fingerprint"],
                self.spec.fingerprint,
            )
            return None
        initial = copy.deepcopy(self._live_state())
        try:
            self._load_live_state(state)
        except (RuntimeError, ValueError, TypeError, KeyError) as err:
            self._load_live_state(initial)  # undo a partial load: a fresh start as without it
            checkpoints.set_aside_corrupt(checkpoint, f"its state does not load: {err}")
            return None
        return state

    def fit(self, out_dir: str | Path, checkpoint_dir: str | Path) -> dict:
        """Train to early stop or ``max_epochs``; write model.pt, log.tsv, run.json to out_dir.

        ``checkpoint_dir/last.pt`` is updated every epoch and resumed from when present.
        """
        out_dir, checkpoint = Path(out_dir), Path(checkpoint_dir) / "last.pt"
        state = {
            "history": [],
            "best_val": math.inf,
            "best_epoch": -1,
            "best_model": None,
            "bad_epochs": 0,
        }
        start = 0
        resumed = self._resume(checkpoint) if checkpoint.exists() else None
        if resumed is not None:
            state, start = resumed, resumed["epoch"] + 1
        patience, max_epochs = self.settings.patience, self.settings.max_epochs
        log.info(
            "start %s on %s (n %s, rep %d): %s",
            self.spec.model,
            self.spec.problem,
            "all" if self.spec.n is None else self.spec.n,
            self.spec.rep,
            "fresh"
            if resumed is None
            else f"resuming from epoch {start} of {max_epochs} ({checkpoint})",
        )
        epoch = start
        while epoch < max_epochs and state["bad_epochs"] < patience:
            tic = time.perf_counter()
            train_loss = self._train_epoch(epoch)
            val_loss, val_r = self._validate()
            if not math.isfinite(val_loss):
                raise TrainingError(
                    f"{self.spec.model} on {self.spec.problem}: validation loss is {val_loss} "
                    f"at epoch {epoch}"
                )
            seconds = time.perf_counter() - tic
            if val_loss < state["best_val"]:
                state.update(best_val=val_loss, best_epoch=epoch, bad_epochs=0)
                state["best_model"] = {
                    k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()
                }
            else:
                state["bad_epochs"] += 1
            lr = self.optimizer.param_groups[0]["lr"]
            state["history"].append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "val_pearson": val_r,
                    "seconds": seconds,
                    "lr": lr,
                }
            )
            print(self._progress(state["history"], max_epochs), file=sys.stderr, flush=True)
            checkpoints.save_torch(self._checkpoint_state(epoch, state), checkpoint)
            epoch += 1
        stopped_by = "patience" if state["bad_epochs"] >= patience else "budget"
        if stopped_by == "budget":
            log.warning(
                "%s (n %s, rep %d): stopped by its budget of %d epochs, not by early stopping "
                "(best epoch %d): it may not have converged; raise max_epochs",
                self._name,
                "all" if self.spec.n is None else self.spec.n,
                self.spec.rep,
                max_epochs,
                state["best_epoch"] + 1,
            )
        return self._write_outputs(out_dir, state, stopped_by)

    def _progress(self, history: list[dict], max_epochs: int) -> str:
        """The console line of the last epoch of ``history``: which run, how far, how long."""
        last = history[-1]
        spent = sum(h["seconds"] for h in history)
        left = (max_epochs - last["epoch"] - 1) * spent / len(history)
        n = "all" if self.spec.n is None else self.spec.n
        return (
            f"[{self.spec.problem}/{self.spec.model} n{n}_r{self.spec.rep}] epoch "
            f"{last['epoch'] + 1}/{max_epochs} train {last['train_loss']:.4g} val "
            f"{last['val_loss']:.4g} r {last['val_pearson']:.3f} ({last['seconds']:.1f} s; "
            f"{spent:.0f} s so far, at most ~{left:.0f} s left)"
        )

    def _write_outputs(self, out_dir: Path, state: dict, stopped_by: str) -> dict:
        """Write model.pt (best weights + run metadata), log.tsv, run.json; return run.json's
        content. Timings go to log.tsv and run.json only, so model.pt is byte-identical
        between identical runs."""
        import pandas as pd

        run = {
            "problem": self.spec.problem,
            "model": self.spec.model,
            "n": self.spec.n,
            "rep": self.spec.rep,
            "seed": self.spec.seed,
            "fingerprint": self.spec.fingerprint,
            "spatial_dims": self.prepared.spatial_dims,
            "base_width": self.settings.base_width,
            "family": self.model.family,
            "target": self.column,
            "target_transform": self.transform,
            "target_scale": self.scale,
            "output_bias": self.output_bias,
            "n_train": int(len(self.train_idx)),
            "epoch_size": len(self.train_set),
            "n_val": int(len(self.val_idx)),
            "epochs": len(state["history"]),
            "best_epoch": state["best_epoch"],
            "best_val_loss": state["best_val"],
            "stopped_by": stopped_by,
            "device": str(self.device),
            "torch": torch.__version__,
            "settings": identity(self.settings),
        }
        checkpoints.save_torch({"run": run, "model": state["best_model"]}, out_dir / "model.pt")
        timed = {**run, "train_seconds": float(sum(h["seconds"] for h in state["history"]))}
        tsv.write_table(out_dir / "log.tsv", pd.DataFrame(state["history"]))
        atomic.write_json(out_dir / "run.json", timed)
        return timed
