"""Compilers from the query model to parameterised ClickHouse SQL, one module per report kind."""
