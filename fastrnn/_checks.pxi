# Argument checks shared by the bindings (included by _kernels.pyx before them): every array the C code reads
# through a pointer is checked here first, so that a wrong one is a ValueError naming it, never a read past its end.


cdef int check_array(obj, str name, int typenum, int ndim, Py_ssize_t d0, Py_ssize_t d1, Py_ssize_t d2,
                     bint write) except -1:
    """obj: an array, C-contiguous, native, of typenum, ndim dims of the given sizes (-1: any), writeable when
    `write`; else a ValueError naming it."""
    if not isinstance(obj, np.ndarray):
        raise ValueError(f"{name} must be an array; got {type(obj).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>obj
    cdef int k
    cdef Py_ssize_t dims[3]
    dims[0], dims[1], dims[2] = d0, d1, d2
    ok = (cnp.PyArray_NDIM(a) == ndim and cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_IS_C_CONTIGUOUS(a)
          and cnp.PyArray_ISNOTSWAPPED(a) and (not write or cnp.PyArray_ISWRITEABLE(a)))
    for k in range(ndim if ok else 0):
        ok = ok and (dims[k] < 0 or cnp.PyArray_DIM(a, k) == dims[k])
    if not ok:
        want = ", ".join("any" if dims[k] < 0 else str(dims[k]) for k in range(ndim)) + ("," if ndim == 1 else "")
        kind = "C-contiguous writeable" if write else "C-contiguous"
        raise ValueError(f"{name} must be a {kind} {cnp.PyArray_DescrFromType(typenum)} array of shape ({want}); got "
                         f"{a.dtype} {(<object>a).shape}")
    return 0


cdef int require(a, str name, dtype, tuple shape) except -1:
    """The test helpers' argument check: a C-contiguous array of this dtype and shape."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {dtype} array of shape {shape}; got "
                         f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    return 0


cdef int check_blas_sizes(Py_ssize_t rows, Py_ssize_t I, Py_ssize_t G, Py_ssize_t ldo) except -1:
    if rows > INT_MAX or I > INT_MAX or G > INT_MAX or ldo > INT_MAX:
        raise ValueError(f"problem too large for 32-bit BLAS: T*B={rows}, input size {I}, gate rows {G}")
    return 0


cdef int check_bias(bias, Py_ssize_t N, dtype) except -1:
    """bias: None, or a row of N values of dtype added to every row of a product."""
    if bias is not None and not (type(bias) is np.ndarray and cnp.PyArray_NDIM(<cnp.ndarray>bias) == 1
                                 and bias.shape[0] == N and bias.dtype == dtype
                                 and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>bias)
                                 and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>bias)):
        raise ValueError(f"bias must be None or a C-contiguous {dtype} array of shape ({N},); got "
                         f"{getattr(bias, 'dtype', type(bias).__name__)} {getattr(bias, 'shape', '')}")
    return 0
