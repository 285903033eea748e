"""What arXiv 2510.04500 (Kong, Subramanian et al., "Expand Neurons, Not Parameters") reports for
the Boolean DNF task, as far as it is known here (plain Python; sources in docs/fpe.md).

Read: the paper's abstract (v1, v3); its ICLR 2026 reviews; third-party notes on the ICML 2026
version. From them: a one-hidden-layer MLP (8-16 neurons in the pilot study) on a Boolean DNF,
sigmoid + BCE; the dense network is warmed up for 1000 epochs (so on a fixed data set), split by
FPE (alpha children per neuron, input weights partitioned by disjoint masks, output weights
copied, the smallest weights of both layers pruned to the dense non-zero count, masks fixed),
then trained for 1000 more epochs; the dense baseline trains as long. Reported: with 8 clauses
and 8 neurons, alpha = 2, accuracy 78.7% dense, 88.7% random split, 99.4% clause split; gains
grow with clauses per neuron (saturating near 16 clauses at 8 neurons), shrink with more
neurons, and are larger for earlier splits. Not found: the number of variables, literals per
clause, input distribution, data set size, optimizer, learning rate and batch, seeds, and how
the accuracy is measured and averaged.
"""

from __future__ import annotations

POINT = {"clauses": 8, "n": 8, "alpha": 2}  # the reported setting
ACCURACY = {"dense": 0.787, "random": 0.887, "clause": 0.994}  # reported test accuracy per arm
SOURCE = "arXiv 2510.04500 (Boolean DNF, 8 clauses, 8 neurons, alpha = 2)"
