"""The lender's export: the data contract, reading exports, the sample generator, prepare, exploration."""
