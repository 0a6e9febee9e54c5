from ganjax.main import run

run()
