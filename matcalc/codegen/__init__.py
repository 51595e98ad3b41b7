"""Generated code: the NumPy generator (``numpy_code``), backprop-style delta code, structured
(vec-form) Hessian code, interval bounds and removable singularities it relies on, and the
JAX/PyTorch translations (``backends``, ``translate``, ``frameworks``, ``scan``).  It may import
``matcalc.differentiate`` and everything below it; not ``present`` (its sibling) or anything above.
"""
