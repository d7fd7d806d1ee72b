"""An artgan plugin distribution: each module is one plugin, registered in pyproject.toml."""
