"""Everything that runs inside a model, a loss or a metric."""
