"""Face-recognition data: identity folders, P x K batches, alignment."""
