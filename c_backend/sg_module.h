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
#include <pthread.h>

/* Threads for sg_par_for (sg_runtime.h): NumPy's OpenBLAS pool when
 * symgraph.link.c.ops_blas.numpy_thread_pool() finds it (a tuple of the addresses of
 * gotoblas_pthread and of the thread-count getter, or None). Never leaves a Python error set. */
static void sg_pool_load(void) {
    PyObject *mod = PyImport_ImportModule("symgraph.link.c.ops_blas");
    PyObject *fn = mod ? PyObject_GetAttrString(mod, "numpy_thread_pool") : NULL;
    PyObject *found = fn ? PyObject_CallNoArgs(fn) : NULL;
    Py_XDECREF(mod);
    Py_XDECREF(fn);
    if (found && PyTuple_Check(found) && PyTuple_GET_SIZE(found) == 2) {
        void *run = PyLong_AsVoidPtr(PyTuple_GET_ITEM(found, 0));
        void *threads = PyLong_AsVoidPtr(PyTuple_GET_ITEM(found, 1));
        if (run && threads && !PyErr_Occurred()) {
            memcpy(&sg_pool_threads, &threads, sizeof(void *));
            memcpy(&sg_pool_run, &run, sizeof(void *));
        }
    }
    Py_XDECREF(found);
    PyErr_Clear();
}

/* Run once by each module's init: its copy of sg_parallel_ok is cleared in a forked child. */
#define SG_PARALLEL_INIT() (pthread_atfork(NULL, NULL, sg_parallel_after_fork_), sg_pool_load())

#endif /* SG_MODULE_H */
