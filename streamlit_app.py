"""The app's entry script: `streamlit run streamlit_app.py` (the frame is `app.main`).

It sits at the repository root, not in `app/`, on purpose: Streamlit switches to its legacy
multipage mode when a ``pages/`` folder sits beside the entry script (until the first
``st.navigation`` call of the process, so a fresh server's first visitor saw "Page not found"),
and `app/pages/` holds the pages. Streamlit also puts this script's folder on ``sys.path``, so
``app`` and ``core`` import without further set-up.
"""

from app.main import main

main()
