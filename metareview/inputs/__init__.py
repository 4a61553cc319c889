"""Reading and validating what a review team writes: YAML, the protocol, the study and
extraction tables, risk-of-bias tools, screening exports. Nothing is drawn here."""
