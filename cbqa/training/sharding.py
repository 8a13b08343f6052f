"""FSDP for cbqa: `--trainer.strategy fsdp` shards the T5's parameters, gradients and optimizer state over the ranks.

- `FSDPStrategy`: Lightning's `ModelParallelStrategy` (torch's `fully_shard`, FSDP2) with every rank in one
  data-parallel group (no tensor parallelism), checkpoints as torch distributed checkpoints (one shard file per rank
  plus `meta.pt`, Lightning's layout) written atomically: every rank writes into one staging directory, which rank 0
  then publishes with `cbqa.core.io.replace_dir`, so `last.ckpt/` is always either the previous or the new complete
  checkpoint (a kill mid-save leaves the previous one).
- `shard_t5`: one FSDP unit per T5 block (encoder and decoder), the rest (shared embedding, LM head, final norms) in
  the root unit; with bf16 mixed precision the units gather and compute in bf16 and reduce gradients in fp32, while
  the sharded master weights and the optimizer state stay fp32.
- `full_state_dict`: the whole model gathered on rank 0, on the CPU (the `hf/` export); `unsharded_copy` turns it into
  a plain Hugging Face model of the same class, which `save_pretrained` writes as for a single-GPU run.

Adafactor is refused under FSDP (`check_strategy`): its factored second moments average whole rows and columns of
each weight matrix, which a shard does not hold (transformers' implementation mixes plain tensors with the sharded
ones and stops at the first step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.strategies import ModelParallelStrategy

from cbqa.core.errors import CbqaError
from cbqa.core.io import remove_tree, replace_dir, staging_dir

FSDP = "fsdp"
META = "meta.pt"  # Lightning's name for the non-tensor part of a distributed checkpoint
# Strategies that shard parameters in ways cbqa does not wire (its hf/ export and checkpoints would be wrong): DeepSpeed,
# Lightning's FSDPStrategy (FSDP1, also `fsdp_cpu_offload`), ModelParallelStrategy with tensor parallelism.
OTHER_SHARDED = ("deepspeed", "fsdp", "model_parallel", "modelparallel")


def strategy_name(strategy: Any) -> str:
    """A strategy option as a name: a registry name, a class path, or a Strategy's class name."""
    if isinstance(strategy, str):
        return strategy
    if isinstance(strategy, dict) or hasattr(strategy, "class_path"):
        return str(strategy.get("class_path") if isinstance(strategy, dict) else strategy.class_path)
    return type(strategy).__name__


def is_fsdp(strategy: Any) -> bool:
    """Whether `strategy` (an option value or a Strategy) is cbqa's FSDP: `fsdp`, or this module's `FSDPStrategy`."""
    if isinstance(strategy, FSDPStrategy):
        return True
    name = strategy_name(strategy)
    return name.lower() == FSDP or name == f"{__name__}.{FSDPStrategy.__name__}"


def check_strategy(strategy: Any, optimizer: str, supports_fsdp: bool = True) -> None:
    """One-line refusals, at parse time: sharded strategies other than cbqa's FSDP, Adafactor under FSDP, and FSDP for a
    module that cannot run under it."""
    if not is_fsdp(strategy):
        name = strategy_name(strategy)
        flat = name.rsplit(".", 1)[-1].lower().replace("strategy", "")
        if any(flat.startswith(s) for s in OTHER_SHARDED):
            raise CbqaError(
                f"--trainer.strategy {name}: not wired into cbqa's checkpoints and hf/ export; use "
                "--trainer.strategy fsdp (FSDP2: parameters, gradients and optimizer state sharded per T5 block) "
                "or ddp"
            )
        return
    if not supports_fsdp:
        raise CbqaError(
            "--trainer.strategy fsdp: not supported for this model yet (a Fusion-in-Decoder reader runs its encoder "
            "outside the model's forward, where FSDP gathers the shared embedding); use ddp"
        )
    if optimizer == "adafactor":
        raise CbqaError(
            "--model.optimizer adafactor with --trainer.strategy fsdp: Adafactor's factored second moments average "
            "whole rows and columns of each weight matrix, which a shard does not hold; use --model.optimizer adamw "
            "under fsdp, or adafactor with ddp"
        )


class FSDPStrategy(ModelParallelStrategy):
    """FSDP2 over all ranks (data parallel only), sharded checkpoints published atomically."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("save_distributed_checkpoint", True)
        super().__init__(**kwargs)

    def setup_environment(self) -> None:
        # every rank of every node in one data-parallel (sharding) group; ModelParallelStrategy's "auto" would make
        # the GPUs of a node a tensor-parallel group instead
        self._data_parallel_size = self.num_nodes * self.num_processes
        self._tensor_parallel_size = 1
        super().setup_environment()

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any = None) -> None:
        from torch.distributed.checkpoint import save

        if storage_options is not None:
            raise TypeError("FSDPStrategy.save_checkpoint takes no storage_options")
        target = Path(self.broadcast(str(filepath)))
        staging = Path(self.broadcast(str(staging_dir(target)) if self.global_rank == 0 else None))
        state = {"state_dict": checkpoint.pop("state_dict")}
        state.update({f"optimizer_{i}": s for i, s in enumerate(checkpoint.pop("optimizer_states", []))})
        save(state, checkpoint_id=staging)  # every rank its shard; rank 0 the index (`.metadata`)
        if self.global_rank == 0:
            torch.save(checkpoint, staging / META)
            if target.exists() and not target.is_symlink() and not target.is_dir():
                target.unlink()  # a whole-model checkpoint file of an earlier run under another strategy
            replace_dir(staging, target)
        self.barrier("cbqa_fsdp_checkpoint_published")

    def remove_checkpoint(self, filepath: Any) -> None:
        if self.global_rank == 0:
            remove_tree(filepath)


def shard_t5(net: Any, mesh: Any, bf16: bool) -> None:
    """Apply `fully_shard` to each encoder and decoder block of a T5 (its own unit), then to the whole model."""
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    if isinstance(net, FSDPModule):
        return  # configure_model runs again for validate/test after fit
    options: dict[str, Any] = {"mesh": mesh}
    if bf16:
        options["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for stack in (net.encoder, net.decoder):
        for block in stack.block:
            fully_shard(block, **options)
    fully_shard(net, **options)


def is_sharded(net: Any) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(net, FSDPModule)


def full_state_dict(net: Any) -> dict[str, torch.Tensor]:
    """The whole model's weights on rank 0, on the CPU (an empty dict elsewhere); every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(net, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def unsharded_copy(net: Any, state: dict[str, torch.Tensor]) -> Any:
    """A plain (unsharded) model of `net`'s class and config holding `state`, with `net`'s head tie kept."""
    import copy

    from torch.distributed.fsdp import FSDPModule

    cls = next(c for c in type(net).__mro__ if not issubclass(c, FSDPModule))
    with torch.device("meta"):
        plain = cls(copy.deepcopy(net.config))
    plain.load_state_dict(state, strict=True, assign=True)
    if net.lm_head.weight is net.shared.weight:  # t5-*: the head is the embedding
        plain.lm_head.weight = plain.shared.weight
    plain.generation_config = copy.deepcopy(net.generation_config)
    return plain.train(net.training)
