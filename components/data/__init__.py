"""Data in: ingesting a customer table from CSV/Parquet/SQL, Great Expectations suites, offline Data Docs."""
