#!/bin/sh
# A virtualenv whose base interpreter lost its shared library.
echo "python3: error while loading shared libraries: libpython3.11.so.1.0: cannot open shared object file: No such file or directory" >&2
exit 127
