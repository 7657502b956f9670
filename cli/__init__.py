"""The `got` command: a thin layer that parses arguments, calls the repo library, formats."""
