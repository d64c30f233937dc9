/* stub: Debian libxeddsa-dev 2.0.0 ships xeddsa.h without cross_platform.h */
#ifndef INTERFACE
#define INTERFACE
#endif
