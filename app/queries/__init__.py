"""All read-only SQL of the app, one module per page plus `common` (the only other SQL writes the
Attribution page's own cache: `app.services.attribution_cache`). Every query takes a `DbRef` (the
database file's identity) first, so `st.cache_data` recomputes when the file is replaced."""
