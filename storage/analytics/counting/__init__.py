"""The count engine: cubes, bound filters, count statements and their decoding."""
