"""What arXiv 2510.04500 (Kong, Subramanian et al., "Expand Neurons, Not Parameters") reports for
the Boolean DNF task, as far as it is known here (plain Python).

The full text was not available. Known from public notes about the paper and its reviews: a
one-hidden-layer MLP on a Boolean DNF (sigmoid + BCE); the dense network is warmed up (1000
epochs), split by FPE (alpha children per neuron, input weights partitioned, output weights copied,
the smallest weights pruned to the dense non-zero count, masks fixed), then trained on (1000 more
epochs); the dense baseline trains as long. Reported: with 8 clauses and 8 neurons, alpha = 2, test
accuracy 78.7% dense, 88.7% random split, 99.4% clause split; gains grow with clauses per neuron
(saturating near 16 clauses at 8 neurons) and shrink with more neurons; random splits recover most
of the clause split's gain. Not known here: the number of variables, literals per clause, input
distribution, data set size, learning rate and batch, seeds, and how the accuracy is averaged.
"""

from __future__ import annotations

POINT = {"clauses": 8, "n": 8, "alpha": 2}  # the reported setting
ACCURACY = {"dense": 0.787, "random": 0.887, "clause": 0.994}  # reported test accuracy per arm
SOURCE = "arXiv 2510.04500 (Boolean DNF, 8 clauses, 8 neurons, alpha = 2)"
