"""pytest configuration shared by the unit tests and the notebooks run under nbval."""
import matplotlib

# Tests and notebook kernels never open windows; notebooks still get inline figures from their own backend.
matplotlib.use("Agg")


def pytest_collectstart(collector):
    """Outputs nbval must not compare: they differ between runs though the notebook is right."""
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += (
            "image/svg+xml",   # matplotlib writes dates and random ids into SVG
            "text/html",       # widget readouts and tqdm bars
            "stderr",          # warnings and progress bars
            "application/vnd.jupyter.widget-state+json",
        )
