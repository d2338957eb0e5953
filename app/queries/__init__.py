"""All SQL of the app, one module per page plus `common`. Every query takes a `DbRef` (the
database file's identity) first, so `st.cache_data` recomputes when the file is replaced."""
