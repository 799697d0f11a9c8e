"""The ``maqet`` console script: runs the bundled ``maqet`` binary."""

import os
import sys


def main() -> None:
    binary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "maqet")
    if not os.access(binary, os.X_OK):
        sys.stderr.write(f"error: the maqet binary is missing from the package ({binary}); reinstall maqet\n")
        sys.exit(1)
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
