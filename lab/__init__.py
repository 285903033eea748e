"""lab: a JAX laboratory that tests capacity laws of neural computation by experiment."""

__version__ = "0.1.0"
