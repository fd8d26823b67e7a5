"""The composition root: the services built from the settings (services.py), `leadbot serve` as
tables of runners, routes and start/stop steps (serve.py), and the process supervisor that keeps
its worker processes running (supervisor.py)."""
