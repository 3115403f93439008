// fcgiapp.h, not fcgi_stdio.h: the latter redefines printf/stdin for the whole process.
#include <fcgiapp.h>
