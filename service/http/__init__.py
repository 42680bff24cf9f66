"""The HTTP interface: controllers that turn requests into commands and read models into responses."""
