"""The built-in experiment kinds, one sub-package each (lab.experiment discovers every module here).

A kind's package module defines ``EXPERIMENT`` (lab.experiment.Experiment) and stays plain Python;
its jax code sits in sub-modules imported when training starts. A kind of your own can live in your
own package instead (docs/extending.md).
"""
