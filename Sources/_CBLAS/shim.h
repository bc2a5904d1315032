// _CBLAS: the CBLAS interface of the system BLAS (Debian's OpenBLAS, pthread variant).
// Not API: only LMKernels imports this module.
#include <cblas.h>
// OpenBLAS extensions: thread control, so callers that parallelise across BLAS calls can avoid oversubscription.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
