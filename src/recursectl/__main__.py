"""`python -m recursectl`."""

from recursectl.cli import main

if __name__ == "__main__":
    main()
