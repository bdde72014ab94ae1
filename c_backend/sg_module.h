/*
 * sg_module.h -- the prelude of every generated extension module.
 *
 * Python's and NumPy's C APIs, then the runtime. Kept in one header so that it can be
 * precompiled (symgraph/link/c/build.py builds a .gch of it once a process has compiled a
 * few modules: parsing Python.h and NumPy's headers is a large part of a small module's
 * compile time).
 */
#ifndef SG_MODULE_H
#define SG_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
/* NumPy's npy_bool is unsigned char; the runtime's is C's _Bool, which its type-generic
 * helpers (sg_invert...) tell apart from npy_uint8. Rename NumPy's while its headers are
 * read, then give generated code the runtime's. */
#define npy_bool sg_numpy_header_bool_
#include <numpy/arrayobject.h>
#undef npy_bool
typedef _Bool npy_bool;
#include "sg_runtime.h"

#endif /* SG_MODULE_H */
