"""Start the app: ``python serve.py [streamlit options]`` (what `make run` does).

The same as ``streamlit run app.py``, except that Streamlit is told up front that app.py
routes the pages itself (``st.navigation``): otherwise, because a ``pages/`` folder exists,
a fresh server's first request runs in Streamlit's older multipage mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli


def main() -> None:
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parent / "app.py"), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
