"""``python -m matcalc``."""
from matcalc.cli import main

main(prog_name="matcalc")
