"""artgan's built-in plugins, registered through the "artgan" entry-point group like any other."""
