"""Contact sheets of a generator, drawn without GL: a show's path (`preview.py`, `stylevj preview`)
and directions in W (`directions.py`, `stylevj directions`).
"""
