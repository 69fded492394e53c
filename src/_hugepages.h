/* Huge pages for big fresh memory, shared by pyframe's compiled framers (_cframers.pyx)
   and the benchmark report's floor (_floor.pyx), which must pay no more than they do. */
#ifndef PYFRAME_HUGEPAGES_H
#define PYFRAME_HUGEPAGES_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Ask for huge pages (2 MiB) under the whole 2 MiB blocks of memory about to be
   written for the first time. glibc maps every allocation over 32 MiB afresh from the
   kernel, and writing it costs a page fault per 4 KiB page: more than the copy itself
   (64 MiB: 16,384 faults, 2 GB/s). Advice only, as numpy gives it for its arrays: the
   kernel may not follow it, and nothing else changes. Never for memory that realloc()
   may grow (the framers' arrays): advice on part of a mapping splits it, and glibc then
   grows it by a copy instead of moving its pages (mremap). */
#if defined(__linux__)
#include <sys/mman.h>
#endif
#define PYFRAME_HUGE_FROM (32 << 20)  /* fresh memory this big asks for huge pages */
/* Set at import from PYFRAME_NO_HUGEPAGES=1: no advice at all (a latency-bound program
   may not want the kernel to compact memory to find huge pages). */
static int pyframe_huge_off = 0;
static inline void pyframe_advise_huge(char *data, Py_ssize_t size) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t block = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)data + block - 1) & ~(block - 1);
    uintptr_t hi = ((uintptr_t)data + (uintptr_t)size) & ~(block - 1);
    if (size >= PYFRAME_HUGE_FROM && hi > lo && !pyframe_huge_off)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)data; (void)size;
#endif
}
/* A new bytes object of size bytes, to be written (huge pages when big). */
static inline PyObject *pyframe_fresh_bytes(Py_ssize_t size) {
    PyObject *fresh = PyBytes_FromStringAndSize(NULL, size);
    if (fresh != NULL)
        pyframe_advise_huge(PyBytes_AS_STRING(fresh), size);
    return fresh;
}
static inline PyObject *pyframe_huge_copy(const char *data, Py_ssize_t size) {
    PyObject *copy = pyframe_fresh_bytes(size);
    if (copy != NULL)
        memcpy(PyBytes_AS_STRING(copy), data, (size_t)size);
    return copy;
}
/* A new bytes object holding a copy of data[:size]. A macro: the frame loops pay only
   a test that is almost never true (a function there measured 5% slower). It evaluates
   size twice: give it no expression with side effects. */
#if defined(__GNUC__) || defined(__clang__)
#define pyframe_small(size) __builtin_expect((size) < PYFRAME_HUGE_FROM, 1)
#else
#define pyframe_small(size) ((size) < PYFRAME_HUGE_FROM)
#endif
#define pyframe_bytes_from(data, size) (pyframe_small(size) \
    ? PyBytes_FromStringAndSize((data), (size)) : pyframe_huge_copy((data), (size)))

#endif
