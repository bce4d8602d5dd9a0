"""The weekly digest (周报) of a community for its secretary."""
