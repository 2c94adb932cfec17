"""``SeedEnsemble``: one configuration trained with several seeds, served as their average.

Single seeds of a small recurrent model scatter widely on the test split; averaging their
predictions removes much of that variance at the cost of running each member (Lakshminarayanan
et al. 2017 use such "deep ensembles" for the same reason).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._config import SequenceModelConfig
from ._model import SequenceModel


class SeedEnsemble(nn.Module):
    """The average of ``members``, models of one configuration.

    Regression and forecasting: the mean of the members' outputs (normalised values, so the
    mean maps back to the data's units as one model's output does). Classification: the log of
    the members' mean class probabilities, so that softmax, argmax and cross-entropy of the
    output are those of the averaged probabilities; averaging logits instead would let one
    over-confident member decide.
    """

    def __init__(self, members: Sequence[SequenceModel], *, classification: bool) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        configs = {member.config for member in members}
        if len(configs) > 1:
            raise ValueError("the members of an ensemble must share one configuration")
        self.members = nn.ModuleList(members)
        self.classification = classification

    @property
    def config(self) -> SequenceModelConfig:
        """The members' shared configuration."""
        first = self.members[0]
        assert isinstance(first, SequenceModel)
        return first.config

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Map (N, T, input_size) to (N, output_size), as a member does."""
        outputs = torch.stack([member(x, lengths) for member in self.members])
        if self.classification:
            # log(mean(softmax)) computed stably: logsumexp of log-softmax less log(n).
            log_probs = torch.log_softmax(outputs.float(), dim=-1)
            n = torch.tensor(float(len(self.members)), device=log_probs.device)
            return torch.logsumexp(log_probs, dim=0) - torch.log(n)
        return outputs.mean(dim=0)

    def count_parameters(self) -> int:
        """Trainable parameters of all members together."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
