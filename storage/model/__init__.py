"""The stored shapes: tables, rollup tables and their keys, column types, dimensions and
app bitmaps. Everything else in storage reads them; they import nothing of it."""
