"""Turning client reports into normalised events: parsing, validation, scrubbing, merging."""
