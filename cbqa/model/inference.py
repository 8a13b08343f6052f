"""Batched answer generation with a trained model (greedy or beam search), for `cbqa predict`, the demo and the app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cbqa.model.inputs import DEFAULT_PREFIX, input_prefix
from cbqa.model.loading import load_pretrained, resolve_model_path


@dataclass(frozen=True)
class Candidate:
    text: str
    score: float  # sequence log-probability (length-normalised by generate's beam scorer when beams > 1)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Answerer:
    """Holds a model + tokenizer on a device; answers lists of questions in batches."""

    def __init__(
        self, model: str | tuple[Any, Any], device: str = "auto", prefix: str | None = None, max_input_len: int = 128
    ) -> None:
        """`model`: a hub name, HF directory or run directory, or an already loaded (network, tokenizer). `prefix`:
        the input prefix; None takes the one the model was trained with (`cbqa.model.inputs`), else `question: `."""
        self.net, self.tok = load_pretrained(model) if isinstance(model, str) else model
        if prefix is None:
            local = isinstance(model, str) and Path(model).exists()
            prefix = input_prefix(resolve_model_path(model)) if local else DEFAULT_PREFIX
        self.device = pick_device(device)
        self.net.to(self.device).eval()
        self.prefix, self.max_input_len = prefix, max_input_len

    @torch.inference_mode()
    def answer(
        self,
        questions: Sequence[str],
        num_beams: int = 1,
        num_return: int = 1,
        max_new_tokens: int = 32,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Candidate]]:
        """For each question, `num_return` candidates, best first."""
        if num_return > max(num_beams, 1):
            raise ValueError(f"num_return ({num_return}) cannot exceed num_beams ({num_beams})")
        out: list[list[Candidate]] = []
        for start in range(0, len(questions), batch_size):
            chunk = [self.prefix + q.strip() for q in questions[start : start + batch_size]]
            enc = self.tok(chunk, max_length=self.max_input_len, truncation=True, padding=True, return_tensors="pt")
            gen = self.net.generate(
                **enc.to(self.device),
                max_new_tokens=max_new_tokens,
                num_beams=num_beams,
                num_return_sequences=num_return,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
            )
            texts = [t.strip() for t in self.tok.batch_decode(gen.sequences, skip_special_tokens=True)]
            scores = _sequence_scores(self.net, gen, num_beams)
            for i in range(len(chunk)):
                row = range(i * num_return, (i + 1) * num_return)
                out.append([Candidate(texts[j], float(scores[j])) for j in row])
            if progress:
                progress(len(chunk))
        return out

    @torch.inference_mode()
    def mean_token_logprob(self, questions: Sequence[str], answers: Sequence[str], batch_size: int = 64) -> list[float]:
        """The mean log-probability per target token (EOS included) of each answer given its question, teacher-forced:
        a confidence that does not depend on how the answer was decoded (greedy or beam)."""
        out: list[float] = []
        for start in range(0, len(questions), batch_size):
            chunk = [self.prefix + q.strip() for q in questions[start : start + batch_size]]
            enc = self.tok(chunk, max_length=self.max_input_len, truncation=True, padding=True, return_tensors="pt")
            labels = self.tok(list(answers[start : start + batch_size]), padding=True, return_tensors="pt").input_ids
            enc, labels = enc.to(self.device), labels.to(self.device)
            keep = labels != self.tok.pad_token_id
            logits = self.net(**enc, labels=labels.masked_fill(~keep, -100)).logits
            logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
            out += ((logp * keep).sum(1) / keep.sum(1).clamp(min=1)).tolist()
        return out


def _sequence_scores(net, gen, num_beams: int) -> torch.Tensor:
    if num_beams > 1 and getattr(gen, "sequences_scores", None) is not None:
        return gen.sequences_scores.cpu()
    # Greedy: sum of the chosen tokens' log-probabilities.
    trans = net.compute_transition_scores(gen.sequences, gen.scores, normalize_logits=True)
    return trans.masked_fill(~torch.isfinite(trans), 0.0).sum(dim=1).cpu()
