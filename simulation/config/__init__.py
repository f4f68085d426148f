"""The typed configuration of an outsim run (schema.py) and its dotted-key helpers (keys.py)."""

from simulation.config.keys import UnknownParameter, apply_action, get_value, parameter_units, resolve, set_value
from simulation.config.schema import *  # noqa: F401,F403 - the schema is the package's public face
from simulation.config.schema import __all__ as _schema_names

__all__ = ["UnknownParameter", "apply_action", "get_value", "parameter_units", "resolve", "set_value", *_schema_names]
