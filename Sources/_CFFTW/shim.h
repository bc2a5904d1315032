// _CFFTW: FFTW 3 (Debian's libfftw3-dev), single (fftwf_*) and double (fftw_*) precision.
// Not API: only LMKernels imports this module (the S4D convolution view, LMKernels/FFTConvolution.swift).
#include <fftw3.h>
