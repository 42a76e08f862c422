"""Control sources: each publishes to the parameter bus and never touches the engine."""
