"""C for :class:`symgraph.tensor.random.RandomVariable`: draws from the generator's bit generator.

The generated code copies the input generator (as the Python implementation does, so the
input is never advanced), checks the size and the parameter values with the Python
implementation's rules and messages, and draws with NumPy's own distribution functions
(``numpy/random/distributions.h``, linked from NumPy's ``libnpyrandom.a``), calling them in
the order ``numpy.random.Generator`` does. The same seed therefore gives the same numbers in
C and in Python; ``tests/link/test_c_ops_random.py`` checks that for every distribution.

The runtime side is ``c_backend/sg_random.h``. Generators are ``PyObject *`` values in the
region (see ``docs/c_backend.md``).
"""

from __future__ import annotations

from typing import Any

from symgraph.link.c.c_ops import CImpl, register_c_impl
from symgraph.link.c.region import NPY_TYPENUMS
from symgraph.link.c.runtime import DTYPE_CODES
from symgraph.tensor.random import DISTRIBUTIONS, RandomVariable

__all__ = ["RandomVariableC"]



@register_c_impl(RandomVariable)
class RandomVariableC(CImpl):
    """All distributions of :data:`~symgraph.tensor.random.DISTRIBUTIONS`."""

    def c_headers(self, node: Any) -> list[str]:
        return ['"sg_random.h"']

    def c_code_cache_version(self) -> tuple:
        return (1,)

    def c_code(self, node: Any, name: str, inputs: list[str], outputs: list[str], sub: dict) -> str:
        op = node.op
        spec = DISTRIBUTIONS[op.dist]
        draws = node.outputs[1]
        if draws.type.dtype not in DTYPE_CODES:
            raise NotImplementedError(f"C random draws: dtype {draws.type.dtype}")
        params = inputs[2:] if op.sized else inputs[1:]
        param_vars = node.inputs[2:] if op.sized else node.inputs[1:]
        size = f"&{inputs[1]}" if op.sized else "NULL"
        core = ", ".join(map(str, spec.core_ndims))
        err = sub["err"]
        lines = [
            f"const sg_array {name}_params[] = {{{', '.join(params)}}};",
            f"static const int {name}_core[] = {{{core}}};",
            f'SG_CHECK(sg_rv_shape("{op.dist}", {draws.type.ndim}, {sub["shape"][1]}, {size}, {len(params)}, '
            f"{name}_params, {name}_core, {err}));",
            f'SG_CHECK(sg_rv_check("{op.dist}", {name}_params, {DTYPE_CODES[draws.type.dtype]}, {err}));',
            f"{outputs[0]} = sg_rng_copy({inputs[0]}, {err});",
            sub["store"][0] + ";",
            f"bitgen_t *{name}_bg = NULL;",
            f"SG_CHECK(sg_rng_bitgen({outputs[0]}, &{name}_bg, {err}));",
            sub["alloc"][1],
        ]
        if op.dist in ("uniform", "normal", "bernoulli"):
            lines.append(
                f'SG_CHECK(sg_rv_draw_elementwise("{op.dist}", {name}_bg, {name}_params, {len(params)}, &{outputs[1]}, {err}));'
            )
        elif op.dist == "integers":
            lines.append(f"SG_CHECK(sg_rv_draw_integers({name}_bg, {name}_params, {int(op.sized)}, &{outputs[1]}, {err}));")
        elif op.dist == "categorical":
            lines.append(f"SG_CHECK(sg_rv_draw_categorical({name}_bg, &{params[0]}, &{outputs[1]}, {err}));")
        elif op.dist == "categorical_logits":
            typenum = NPY_TYPENUMS[param_vars[0].type.dtype]
            lines.append(
                f"SG_CHECK(sg_rv_draw_categorical_logits({name}_bg, &{params[0]}, {typenum}, &{outputs[1]}, {err}));"
            )
        else:
            raise NotImplementedError(f"no C draws for the {op.dist} distribution")
        return "\n".join(lines)
